"""The demo spiking MLP."""

from __future__ import annotations

import pytest
import torch

import spikeflow as sf
from spikeflow.models import spiking_mlp


def test_shapes_population_and_record():
    net = spiking_mlp(64, hidden=20, num_classes=10, population=3)
    assert isinstance(net, sf.Sequential)
    x = (torch.rand(5, 4, 64) < 0.3).float()
    out, layers = net(x, record=True)
    assert out.shape == (5, 4, 30)
    assert layers[1].shape == (5, 4, 20)  # hidden spikes
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_gradients_reach_the_first_layer():
    net = spiking_mlp(8, hidden=6, num_classes=2, beta=0.5)
    out, _ = net(torch.ones(4, 2, 8) * 2.0)
    out.sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_bad_sizes():
    with pytest.raises(ValueError, match="population"):
        spiking_mlp(population=0)
    with pytest.raises(ValueError, match="hidden"):
        spiking_mlp(hidden=2.5)  # type: ignore[arg-type]
