"""Shared pytest fixtures for the spikeflow test suite (kept deliberately small)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator with a fixed seed, for reproducible random inputs."""
    return torch.Generator().manual_seed(1234)
