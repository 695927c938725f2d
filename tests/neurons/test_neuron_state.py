"""Explicit state: nothing hidden on the module, step == sequence, chunks continue exactly."""

from __future__ import annotations

import copy
from typing import Callable

import pytest
import torch
from torch import nn

import spikeflow as sf

N = 4
ZOO: dict[str, Callable[[], nn.Module]] = {
    "leaky": lambda: sf.Leaky(beta=0.8),
    "leaky_zero_same_step": lambda: sf.Leaky(beta=0.8, reset="zero", reset_delay=False),
    "if": lambda: sf.IF(threshold=1.5),
    "lapicque": lambda: sf.Lapicque(R=2.0, C=1.0, time_step=0.5),
    "synaptic": lambda: sf.Synaptic(alpha=0.7, beta=0.8),
    "alpha": lambda: sf.Alpha(alpha=0.9, beta=0.8),
    "adaptive": lambda: sf.AdaptiveLeaky(beta=0.8, rho=0.9, adaptation=0.3),
    "li": lambda: sf.LI(beta=0.8),
    "li_current": lambda: sf.LI(beta=0.8, alpha=0.6),
    "rleaky": lambda: sf.RLeaky(beta=0.8, linear_features=N),
    "rleaky_one_to_one": lambda: sf.RLeaky(beta=0.8, V=0.5, all_to_all=False),
    "rsynaptic": lambda: sf.RSynaptic(alpha=0.7, beta=0.8, linear_features=N),
    "leaky_inhibition": lambda: sf.Leaky(beta=0.8, inhibition=True),
}
MODELS = list(ZOO)


def _x(seed: int = 0, steps: int = 10) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(steps, 3, N, generator=gen) + 0.6


def _make(name: str) -> nn.Module:
    torch.manual_seed(0)  # recurrent Linear init
    return ZOO[name]()


def _assert_states_equal(a: tuple, b: tuple) -> None:
    assert type(a) is type(b)
    for fa, fb in zip(a, b, strict=True):
        assert torch.equal(fa, fb)


@pytest.mark.parametrize("name", MODELS)
def test_no_state_on_module(name: str) -> None:
    module = _make(name)
    before_keys = set(module.state_dict())
    before_buffers = [b.clone() for b in module.buffers()]
    before_attrs = set(vars(module))
    module(_x())
    module.step(_x()[0])
    assert set(module.state_dict()) == before_keys, "a forward must not register state"
    after_buffers = list(module.buffers())
    assert len(after_buffers) == len(before_buffers)
    for a, b in zip(before_buffers, after_buffers, strict=True):
        assert torch.equal(a, b), "buffers hold parameters only and must not change in a forward"
    assert set(vars(module)) == before_attrs, "a forward must not add attributes"
    for key in before_keys:
        assert key.split(".")[-1] not in ("v", "i", "mem", "syn", "spk", "state", "s", "a", "z")


@pytest.mark.parametrize("name", MODELS)
def test_repeated_calls_do_not_carry_state(name: str) -> None:
    module = _make(name)
    x = _x()
    out1, st1 = module(x)
    out2, st2 = module(x)
    assert torch.equal(out1, out2)
    _assert_states_equal(st1, st2)


def test_two_networks_do_not_interact() -> None:
    """Unlike a class-level registry, creating or running one network never touches another."""
    a, b = sf.Leaky(beta=0.9), sf.Leaky(beta=0.5)
    xa, xb = _x(1), _x(2)
    ref_a, ref_b = a(xa)[0], b(xb)[0]
    state_a = state_b = None
    outs_a, outs_b = [], []
    for t in range(xa.shape[0]):  # interleave the two networks step by step
        oa, state_a = a.step(xa[t], state_a)
        sf.Leaky(beta=0.1)  # creating more neurons must not matter either
        ob, state_b = b.step(xb[t], state_b)
        outs_a.append(oa)
        outs_b.append(ob)
    assert torch.equal(torch.stack(outs_a), ref_a)
    assert torch.equal(torch.stack(outs_b), ref_b)
    clone = copy.deepcopy(a)
    assert torch.equal(clone(xa)[0], ref_a)


@pytest.mark.parametrize("name", MODELS)
def test_step_loop_equals_sequence(name: str) -> None:
    module = _make(name)
    x = _x()
    out_seq, final = module(x)
    state = None
    outs = []
    for t in range(x.shape[0]):
        o, state = module.step(x[t], state)
        outs.append(o)
    assert torch.equal(torch.stack(outs), out_seq)
    _assert_states_equal(state, final)


@pytest.mark.parametrize("name", MODELS)
def test_record_trace_ends_in_final_state(name: str) -> None:
    module = _make(name)
    x = _x()
    out, final = module(x)
    out_r, trace = module(x, record=True)
    assert torch.equal(out, out_r)
    assert type(trace) is type(final)
    for f_trace, f_final in zip(trace, final, strict=True):
        assert f_trace.shape == (x.shape[0], *f_final.shape)
        assert torch.equal(f_trace[-1], f_final)


@pytest.mark.parametrize("name", MODELS)
def test_split_sequence_continues_exactly(name: str) -> None:
    module = _make(name)
    x = _x(steps=12)
    whole, final = module(x)
    first, mid = module(x[:5])
    second, end = module(x[5:], mid)
    assert torch.equal(torch.cat([first, second]), whole)
    _assert_states_equal(end, final)


@pytest.mark.parametrize("name", ["leaky", "synaptic", "rleaky"])
def test_none_state_is_rest(name: str) -> None:
    module = _make(name)
    x = _x()
    rest = module.state_type(*(torch.zeros_like(x[0]) for _ in module.state_type._fields))
    out_none, st_none = module(x)
    out_zero, st_zero = module(x, rest)
    assert torch.equal(out_none, out_zero)
    _assert_states_equal(st_none, st_zero)


@pytest.mark.parametrize("name", ["leaky", "synaptic", "rsynaptic"])
def test_gradient_flows_through_passed_state(name: str) -> None:
    """Truncated BPTT: a state carried from a previous chunk keeps its graph unless detached."""
    module = _make(name)
    x = _x().requires_grad_(True)
    _, mid = module(x[:5])
    out, end = module(x[5:], mid)
    end.v.sum().backward()
    assert x.grad is not None and x.grad[:5].abs().sum() > 0
    x.grad = None
    detached = type(mid)(*(f.detach() for f in mid))
    _, end2 = module(x[5:], detached)
    end2.v.sum().backward()
    assert x.grad is not None and torch.equal(x.grad[:5], torch.zeros_like(x.grad[:5]))


def test_state_is_a_plain_namedtuple() -> None:
    _, state = sf.Synaptic(alpha=0.5, beta=0.9)(_x())
    assert state._fields == ("i", "v")
    assert isinstance(state, tuple) and state.v is state[1]


def test_multidimensional_neuron_shape(gen: torch.Generator) -> None:
    """Neurons of any shape [B, C, H, W]; per-channel beta broadcasts."""
    lif = sf.Leaky(beta=torch.tensor([0.5, 0.9]).reshape(2, 1, 1))
    x = torch.rand(6, 3, 2, 4, 4, generator=gen) * 2
    spikes, state = lif(x)
    assert spikes.shape == x.shape and state.v.shape == (3, 2, 4, 4)
    out, st = None, None
    outs = []
    for t in range(6):
        out, st = lif.step(x[t], st)
        outs.append(out)
    assert torch.equal(torch.stack(outs), spikes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ["leaky", "synaptic", "rleaky", "adaptive"])
def test_cuda_matches_cpu(name: str) -> None:
    module = _make(name)
    x = _x()
    out_cpu, st_cpu = module(x)
    gpu = copy.deepcopy(module).cuda()
    out_gpu, st_gpu = gpu(x.cuda())
    assert out_gpu.device.type == "cuda"
    assert torch.equal(out_gpu.cpu(), out_cpu)
    for a, b in zip(st_gpu, st_cpu, strict=True):
        torch.testing.assert_close(a.cpu(), b)
