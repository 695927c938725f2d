"""Monitors: hooks removed on exit, recordings equal the layers' own outputs, results unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.analysis import Monitor, firing_stats, neuron_rates, overall_sparsity, step_rates

BACKENDS = ["reference", "cpu"]


def _net(neuron: nn.Module, n_in: int = 6, n: int = 5) -> sf.Sequential:
    torch.manual_seed(0)
    return sf.Sequential(nn.Linear(n_in, n), neuron, nn.Linear(n, 3), sf.Leaky(beta=0.8, threshold=0.5))


NEURONS = {
    "leaky": lambda b: sf.Leaky(beta=0.9, threshold=0.3, backend=b),
    "synaptic": lambda b: sf.Synaptic(alpha=0.8, beta=0.9, threshold=0.3, backend=b),
    "rleaky": lambda b: sf.RLeaky(beta=0.9, linear_features=5, threshold=0.3, backend=b),
    "rsynaptic": lambda b: sf.RSynaptic(alpha=0.7, beta=0.9, linear_features=5, threshold=0.3, backend=b),
    "adaptive": lambda b: sf.AdaptiveLeaky(beta=0.9, rho=0.9, threshold=0.3, backend=b),
}


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_monitor_with_states_leaves_results_unchanged_and_records_the_trace(kind, backend):
    net = _net(NEURONS[kind](backend))
    x = (torch.rand(7, 4, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float() * 2.0
    out_ref, states_ref = net(x)
    _, per_layer = net(x, record=True)
    trace_ref = net[1](per_layer[0], record=True)[1]
    with Monitor(net, states=True) as mon:
        out, states = net(x)
    assert _hook_count(net) == 0
    assert torch.equal(out, out_ref)
    for a, b in zip(states, states_ref, strict=True):
        if a is not None:
            assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert mon.names() == ["1", "3"]
    assert torch.equal(mon.spikes("1"), per_layer[1]) and torch.equal(mon.spikes("3"), out_ref)
    for field in trace_ref._fields:
        assert torch.equal(mon.state("1", field), getattr(trace_ref, field))
    assert float(mon.spikes("1").sum()) > 0  # the test exercises real spikes
    with Monitor(net, states=True) as mon2:  # the Sequential's own record=True keeps working
        _, outputs = net(x, record=True)
    assert all(torch.equal(a, b) for a, b in zip(outputs, per_layer, strict=True))
    assert torch.equal(mon2.state("1", "v"), mon.state("1", "v"))


def test_monitor_respects_a_caller_that_asked_for_the_trace():
    neuron = sf.Leaky(beta=0.9, threshold=0.3)
    x = torch.rand(5, 2, 4, generator=torch.Generator().manual_seed(2))
    ref_out, ref_trace = neuron(x, record=True)
    with Monitor(neuron, layers=[""], states=True) as mon:
        out, trace = neuron(x, record=True)
    assert torch.equal(trace.v, ref_trace.v) and trace.v.shape[0] == 5
    assert torch.equal(mon.state("model", "v"), ref_trace.v) and torch.equal(out, ref_out)


def test_monitor_concatenates_calls_over_the_batch_and_removes_hooks_on_error():
    net = _net(sf.Leaky(beta=0.9, threshold=0.3))
    x1, x2 = torch.rand(4, 2, 6), torch.rand(4, 3, 6)
    with Monitor(net, layers=["0", net[1]]) as mon:
        net(x1)
        net(x2)
    assert mon.output("0").shape == (4, 5, 5)  # time-major, though the Sequential folds T into B
    assert mon.spikes("1").shape == (4, 5, 5)
    assert len(mon.calls("1")) == 2
    with pytest.raises(RuntimeError, match="boom"):
        with Monitor(net):
            raise RuntimeError("boom")
    assert _hook_count(net) == 0


def test_monitor_rejects_unknown_layers_and_unrecorded_reads():
    net = _net(sf.Leaky(beta=0.9))
    with pytest.raises(ValueError, match="no submodule named 'nope'"):
        Monitor(net, layers=["nope"])
    with pytest.raises(ValueError, match="not part of the model"):
        Monitor(net, layers=[nn.Linear(2, 2)])
    mon = Monitor(net)
    with pytest.raises(ValueError, match="nothing recorded"):
        mon.spikes("1")
    with pytest.raises(KeyError, match="not monitored"):
        mon.spikes("0")


def test_firing_statistics_per_layer_neuron_and_step():
    s = torch.zeros(4, 2, 3)
    s[0, 0, 0] = s[1, 0, 0] = s[1, 1, 2] = 1.0
    s[3, 1, 1] = 0.5  # a graded spike counts once
    stats = firing_stats({"a": s})["a"]
    assert stats["rate"] == pytest.approx(4 / 24) and stats["sparsity"] == pytest.approx(20 / 24)
    assert torch.allclose(neuron_rates(s), torch.tensor([2 / 8, 1 / 8, 1 / 8], dtype=torch.float64))
    assert torch.allclose(step_rates(s), torch.tensor([1 / 6, 2 / 6, 0, 1 / 6], dtype=torch.float64))
    assert overall_sparsity({"a": s, "b": torch.ones(2, 2, 3)}) == pytest.approx(20 / 36)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        neuron_rates(torch.ones(3))
