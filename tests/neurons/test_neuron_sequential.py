"""sf.Sequential: stateless layers per time step, neurons thread their state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeflow as sf


def _net() -> sf.Sequential:
    torch.manual_seed(0)
    return sf.Sequential(nn.Linear(5, 8), sf.Leaky(beta=0.9), nn.Linear(8, 3), sf.Synaptic(alpha=0.6, beta=0.8))


def _x(steps: int = 9) -> torch.Tensor:
    return torch.rand(steps, 4, 5, generator=torch.Generator().manual_seed(1)) * 2


# nn.Linear on a whole [T, B, F] sequence is one GEMM of T*B rows; per step it is T GEMMs of B
# rows. MKL's blocking depends on the row count (AVX-512 machines differ in the last ulp), so
# the sequence and the step paths agree to float32 rounding, not bit for bit.
def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_matches_manual_loop() -> None:
    net = _net()
    x = _x()
    out, states = net(x)
    fc1, lif1, fc2, syn2 = net
    s1 = s2 = None
    outs = []
    for t in range(x.shape[0]):
        h, s1 = lif1.step(fc1(x[t]), s1)
        o, s2 = syn2.step(fc2(h), s2)
        outs.append(o)
    _close(out, torch.stack(outs))
    assert states[0] is None and states[2] is None
    _close(states[1].v, s1.v)
    _close(states[3].v, s2.v)
    _close(states[3].i, s2.i)


def test_step_equals_forward() -> None:
    net = _net()
    x = _x()
    out, states = net(x)
    st = None
    outs = []
    for t in range(x.shape[0]):
        o, st = net.step(x[t], st)
        outs.append(o)
    _close(torch.stack(outs), out)
    for a, b in zip(st, states, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            for fa, fb in zip(a, b, strict=True):
                _close(fa, fb)


def test_states_continue_a_sequence() -> None:
    net = _net()
    x = _x(12)
    whole, _ = net(x)
    first, mid = net(x[:4])
    second, _ = net(x[4:], mid)
    assert torch.equal(torch.cat([first, second]), whole)


def test_record_returns_every_layer_output() -> None:
    net = _net()
    x = _x()
    out, outputs = net(x, record=True)
    assert len(outputs) == 4
    assert outputs[0].shape == (9, 4, 8) and outputs[2].shape == (9, 4, 3)
    assert torch.equal(outputs[-1], out)
    assert set(outputs[1].unique().tolist()) <= {0.0, 1.0}, "layer 1 outputs spikes"


def test_nested_sequential() -> None:
    torch.manual_seed(0)
    inner = sf.Sequential(nn.Linear(5, 6), sf.Leaky(beta=0.8))
    outer = sf.Sequential(inner, nn.Linear(6, 2), sf.Leaky(beta=0.7))
    x = _x()
    out, states = outer(x)
    h, inner_states = inner(x)
    ref, _ = outer[2](outer[1](h))
    assert torch.equal(out, ref)
    assert isinstance(states[0], list) and len(states[0]) == 2
    assert torch.equal(states[0][1].v, inner_states[1].v)
    st, outs = None, []
    for t in range(x.shape[0]):
        o, st = outer.step(x[t], st)
        outs.append(o)
    assert torch.equal(torch.stack(outs), out)


def test_conv_layers_per_step() -> None:
    torch.manual_seed(0)
    net = sf.Sequential(nn.Conv2d(1, 2, 3, padding=1), sf.Leaky(beta=0.9), nn.Flatten(), nn.Linear(2 * 16, 3))
    x = torch.rand(5, 2, 1, 4, 4)
    out, _ = net(x)
    assert out.shape == (5, 2, 3)
    st, outs = None, []
    for t in range(5):
        o, st = net.step(x[t], st)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), out)


def test_gradients_reach_all_layers() -> None:
    net = _net()
    out, states = net(_x())
    (out.sum() + states[3].v.sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_float64_sequential() -> None:
    net = _net().double()
    out, states = net(_x().double())
    assert out.dtype == torch.float64 and states[1].v.dtype == torch.float64


@pytest.mark.parametrize("bad", [torch.zeros(4, 5), torch.zeros(5)])
def test_sequential_rejects_missing_time_dim(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"x: .*time-major"):
        _net()(bad)
