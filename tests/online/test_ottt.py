"""OTTT against BPTT (learning.md 2.3 and 7.4.3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.online import OTTT


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y)


def _mlp(readout: str, seed: int = 0) -> sf.Sequential:
    torch.manual_seed(seed)
    last = sf.LI(beta=0.8) if readout == "li" else sf.Leaky(beta=0.8, threshold=0.5)
    net = sf.Sequential(nn.Linear(6, 12), sf.Leaky(beta=0.7, threshold=0.5), nn.Linear(12, 4), last).double()
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    return net


def _conv(seed: int = 0) -> sf.Sequential:
    torch.manual_seed(seed)
    return sf.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), sf.Leaky(beta=0.7, threshold=0.3),
        nn.Flatten(), nn.Linear(4 * 5 * 5, 3), sf.LI(beta=0.6),
    ).double()


def _bptt_grads(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Full BPTT through the reference kernels: L = (1/T) sum_t CE(out[t], y)."""
    for m in net.modules():
        if isinstance(m, sf.NeuronBase):
            m.backend = "reference"
    net.zero_grad()
    out, _ = net(x)
    sum(_ce(o, y) for o in out.unbind(0)).div(x.shape[0]).backward()
    return [p.grad.clone() for p in net.parameters()]


def _ottt_grads(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad()
    OTTT(net).train_sequence(x, y, _ce)
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("make", [lambda: _mlp("li"), lambda: _mlp("spiking"), _conv])
def test_single_step_equals_bptt(make, gen: torch.Generator) -> None:  # type: ignore[no-untyped-def]
    """T = 1: there is no temporal path, and the trace equals the input, so OTTT is BPTT."""
    net = make()
    shape = (1, 5, 6) if isinstance(net[0], nn.Linear) else (1, 5, 2, 5, 5)
    x = (torch.rand(*shape, generator=gen) < 0.6).double()
    y = torch.randint(0, net[-2].out_features, (5,), generator=gen)
    bptt = _bptt_grads(net, x, y)
    ottt = _ottt_grads(net, x, y)
    assert any(g.abs().sum() > 0 for g in bptt[:2])  # the hidden layer does get a gradient
    for a, b in zip(ottt, bptt, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("readout", ["li", "spiking"])
def test_last_layer_equals_bptt_for_any_T(readout: str, gen: torch.Generator) -> None:
    """Last layer, T = 12: u[t] = lambda u[t-1] + W s[t] (- a detached reset). BPTT gives
    dL/dW = sum_t delta[t] s[t] with delta[t] = g[t] + lambda delta[t+1]; swapping the sums
    gives sum_t g[t] a[t] with a[t] = sum_{k<=t} lambda^(t-k) s[k], which OTTT computes online.
    The hidden spikes s do not depend on W, so nothing else enters. The oracle is autograd
    BPTT through the reference kernels on the same trajectory (the reset path is cut there
    too, by the default detached reset)."""
    net = _mlp(readout)
    x = (torch.rand(12, 5, 6, generator=gen) < 0.6).double()
    y = torch.randint(0, 4, (5,), generator=gen)
    bptt = _bptt_grads(net, x, y)
    ottt = _ottt_grads(net, x, y)
    assert bptt[2].abs().sum() > 0
    torch.testing.assert_close(ottt[2], bptt[2], rtol=1e-10, atol=1e-12)   # last weight
    torch.testing.assert_close(ottt[3], bptt[3], rtol=1e-10, atol=1e-12)   # last bias
    # hidden layers: only an approximation, but it points the same way
    cos = nn.functional.cosine_similarity(ottt[0].flatten(), bptt[0].flatten(), dim=0)
    assert cos > 0.0


def test_last_layer_equals_cut_bptt_on_conv_net(gen: torch.Generator) -> None:
    net = _conv()
    x = (torch.rand(8, 3, 2, 5, 5, generator=gen) < 0.5).double()
    y = torch.randint(0, 3, (3,), generator=gen)
    bptt = _bptt_grads(net, x, y)
    ottt = _ottt_grads(net, x, y)
    torch.testing.assert_close(ottt[2], bptt[2], rtol=1e-10, atol=1e-12)


def test_per_step_update_equals_manual_loop(gen: torch.Generator) -> None:
    x = (torch.rand(6, 4, 6, generator=gen) < 0.6).double()
    y = torch.randint(0, 4, (4,), generator=gen)
    a, b = _mlp("li"), _mlp("li")
    opt_a = torch.optim.SGD(a.parameters(), lr=0.5)
    OTTT(a).train_sequence(x, y, _ce, update="step", optimizer=opt_a)
    # manual: one SGD step after each step's gradient, with the traces of the OTTT state
    learner, opt_b, state = OTTT(b), torch.optim.SGD(b.parameters(), lr=0.5), None
    for t in range(6):
        opt_b.zero_grad()
        out, state = learner.step(x[t], state)
        (_ce(out, y) / 6).backward()
        opt_b.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert not any(p.grad is None for p in a.parameters())


def test_state_is_detached_and_graph_is_per_step(gen: torch.Generator) -> None:
    net = _mlp("spiking")
    out, state = OTTT(net).step((torch.rand(3, 6, generator=gen) < 0.5).double())
    assert out.requires_grad
    for entry in state.layers:
        tensors = [t for t in (entry or []) if isinstance(t, torch.Tensor)]
        assert all(not t.requires_grad for t in tensors)


def test_forward_values_equal_the_network(gen: torch.Generator) -> None:
    net = _conv()
    for m in net.modules():
        if isinstance(m, sf.NeuronBase):
            m.backend = "reference"   # the sequence kernel, against OTTT's per-step calls
    x = (torch.rand(5, 2, 2, 5, 5, generator=gen) < 0.5).double()
    expected, _ = net(x)
    got, _ = OTTT(net).forward_sequence(x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_bad_input_raises() -> None:
    with pytest.raises(TypeError, match="Sequential"):
        OTTT(nn.Linear(2, 2))  # type: ignore[arg-type]
    net = sf.Sequential(nn.Linear(2, 3), sf.Synaptic(alpha=0.5, beta=0.8))
    with pytest.raises(ValueError, match="trace_decay"):
        OTTT(net)
    OTTT(net, trace_decay=0.8)  # explicit decay is accepted
    with pytest.raises(ValueError, match="update"):
        OTTT(sf.Sequential(nn.Linear(2, 3), sf.Leaky(beta=0.9))).train_sequence(
            torch.zeros(2, 1, 2), torch.zeros(1, dtype=torch.long), _ce, update="online")


def test_time_distributed_layers_are_unwrapped(gen: torch.Generator) -> None:
    """A stack written with TimeDistributed wrappers (a plain nn.Sequential) runs step by step."""
    torch.manual_seed(0)
    plain = sf.Sequential(nn.Conv2d(1, 2, 3), sf.Leaky(beta=0.8, threshold=0.2), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 3), sf.LI(beta=0.8)).double()
    wrapped = nn.Sequential(*(m if sf.layers.sequential.is_stateful(m) else sf.TimeDistributed(m) for m in plain))
    x = (torch.rand(4, 2, 1, 5, 5, generator=gen) < 0.5).double()
    expected, _ = plain(x)
    got, _ = OTTT(wrapped).forward_sequence(x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
