"""Shared helpers for the NIR tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CASES = Path(__file__).parents[2] / ".." / "shared" / "nir-cases"


@pytest.fixture
def cases() -> Path:
    if not CASES.is_dir():
        pytest.skip(f"NIR test material not found at {CASES}")
    return CASES


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
