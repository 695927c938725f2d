"""Operation counts against brute-force definitions (binarised products summed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import spikeflow as sf
from spikeflow.analysis import count_ops


def _spikes(*shape: int, p: float = 0.3, seed: int = 0) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def _sparse_weight(layer: nn.Module, seed: int = 1) -> None:
    with torch.no_grad():
        mask = torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(seed)) < 0.3
        layer.weight[mask] = 0.0


@pytest.mark.parametrize("cls", [nn.Linear, sf.EventLinear])
def test_linear_counts_only_spikes_that_occur_through_nonzero_weights(cls):
    torch.manual_seed(0)
    lin = cls(12, 7)
    _sparse_weight(lin)
    net = sf.Sequential(lin, sf.Leaky(beta=0.9, threshold=0.5))
    x = _spikes(5, 3, 12)
    rows = {r.name: r for r in count_ops(net, x)}
    bx, bw = (x != 0).double().reshape(-1, 12), (lin.weight != 0).double()
    assert rows["0"].acs == float((bx @ bw.T).sum()) > 0
    assert rows["0"].macs == 0 and rows["0"].dense == 5 * 3 * 12 * 7
    assert rows["0"].in_events == float(x.sum())
    neuron = rows["1"]
    assert neuron.updates == 5 * 3 * 7 and neuron.neurons == 7 and neuron.steps == 5
    assert neuron.state_fields == 1 and neuron.state_bytes == 7 * 4 and neuron.spiking
    assert neuron.params == 3 and rows["0"].params == 12 * 7 + 7 and rows["0"].param_bytes == 4 * (12 * 7 + 7)


def test_graded_and_real_inputs_are_counted_as_macs():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3)
    x = _spikes(3, 2, 4) * 0.5  # graded spikes
    (row,) = count_ops(sf.Sequential(lin), x)
    assert row.acs == 0 and row.macs == float(x.ne(0).sum() * 3) and not row.in_binary


@pytest.mark.parametrize("event", [False, True])
def test_conv_counts_match_an_unfolded_brute_force(event):
    torch.manual_seed(0)
    conv = sf.EventConv2d(3, 4, 3, padding=1, mode="event") if event else nn.Conv2d(3, 4, 3, stride=2, padding=1)
    _sparse_weight(conv)
    x = _spikes(2, 2, 3, 8, 8, p=0.2)
    net = sf.Sequential(conv)
    (row,) = count_ops(net, x)
    flat = (x != 0).double().reshape(4, 3, 8, 8)
    cols = F.unfold(flat, 3, padding=1, stride=conv.stride)  # [N, C*9, L]
    bw = (conv.weight != 0).double().reshape(4, -1)
    assert row.acs == float((bw @ cols).sum()) > 0
    ones = F.unfold(torch.ones_like(flat), 3, padding=1, stride=conv.stride)
    assert row.dense == float((torch.ones_like(bw) @ ones).sum())  # padding taps are not operations


@pytest.mark.parametrize("all_to_all", [True, False])
def test_recurrent_feedback_is_counted_from_the_previous_steps_spikes(all_to_all):
    torch.manual_seed(0)
    neuron = sf.RLeaky(beta=0.9, threshold=0.4, linear_features=6 if all_to_all else None, all_to_all=all_to_all,
                       V=0.5)
    x = torch.rand(6, 2, 6, generator=torch.Generator().manual_seed(3))
    out, _ = neuron(x)
    (row,) = count_ops(neuron, x)
    fed = torch.cat([torch.zeros_like(out[:1]), out[:-1]]).ne(0).double().reshape(-1, 6)
    if all_to_all:
        _sparse_weight(neuron.recurrent)
        out, _ = neuron(x)
        (row,) = count_ops(neuron, x)
        fed = torch.cat([torch.zeros_like(out[:1]), out[:-1]]).ne(0).double().reshape(-1, 6)
        expected = float((fed @ (neuron.recurrent.weight != 0).double().T).sum())
        assert row.dense == 6 * 2 * 6 * 6
    else:
        expected = float(fed.sum())
        assert row.dense == 6 * 2 * 6
    assert row.acs == expected > 0 and row.macs == 0
    assert row.state_fields == 1  # v; the stored spike s is a bit


def test_graded_recurrent_spikes_are_macs():
    neuron = sf.RSynaptic(alpha=0.5, beta=0.9, threshold=0.4, linear_features=4, graded_spikes=0.5)
    x = torch.rand(5, 2, 4, generator=torch.Generator().manual_seed(4))
    (row,) = count_ops(neuron, x)
    assert row.acs == 0 and row.macs > 0 and row.state_fields == 2


def test_counter_removes_its_hooks():
    net = sf.Sequential(nn.Linear(3, 2), sf.Leaky(beta=0.5))
    count_ops(net, torch.ones(2, 1, 3))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    with pytest.raises(TypeError, match="x: expected a Tensor"):
        count_ops(net, [1, 2])
