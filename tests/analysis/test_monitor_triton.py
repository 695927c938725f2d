"""Monitors on the triton backend (the triton interpreter on CPU tensors when there is no CUDA)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("triton")

import spikeflow as sf  # noqa: E402
from spikeflow.analysis import Monitor  # noqa: E402

CUDA = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    if not CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
def test_monitor_on_the_triton_backend(neuron):
    device = torch.device("cuda" if CUDA else "cpu")
    torch.manual_seed(0)
    cell = (sf.Leaky(beta=0.9, threshold=0.3, backend="triton") if neuron == "leaky"
            else sf.Synaptic(alpha=0.8, beta=0.9, threshold=0.3, backend="triton"))
    net = sf.Sequential(nn.Linear(6, 5), cell).to(device)
    x = (torch.rand(6, 3, 6) < 0.5).float().to(device)
    with torch.no_grad():
        out_ref, states_ref = net(x)
        trace_ref = net[1](net[0](x.reshape(18, 6)).reshape(6, 3, 5), record=True)[1]
    with torch.no_grad(), Monitor(net, states=True) as mon:
        out, states = net(x)
    assert torch.equal(out, out_ref) and float(out.sum()) > 0
    assert all(torch.equal(a, b) for a, b in zip(states[1], states_ref[1], strict=True))
    assert torch.equal(mon.state("1", "v"), trace_ref.v)
