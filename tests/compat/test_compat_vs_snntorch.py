"""spikeflow.compat.snntorch against the real snnTorch 1.0: same weights and inputs give the
same spikes, states and gradients, snnTorch's quirks included."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

snntorch = pytest.importorskip("snntorch")
import snntorch.functional as real_SF  # noqa: E402
from snntorch import spikegen as real_spikegen  # noqa: E402
from snntorch import surrogate as real_surrogate  # noqa: E402

import spikeflow.compat.snntorch as snn  # noqa: E402
import spikeflow.compat.snntorch.functional as SF  # noqa: E402
from spikeflow.compat.snntorch import spikegen, surrogate  # noqa: E402

RECURRENT = ("RLeaky", "RSynaptic")


def _pair(name: str, **kw: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    real = getattr(snntorch, name)(**kw)
    ours = getattr(snn, name)(**kw)
    ours.load_state_dict(real.state_dict(), strict=name != "Lapicque")
    return real, ours


def _run(neuron: torch.nn.Module, name: str, xs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    states = neuron.reset_mem()
    # start from explicit zero states (snnTorch's RSynaptic(reset_delay=False) fails on the empty ones)
    states = tuple(torch.zeros_like(xs[0]) for _ in (states if isinstance(states, tuple) else (states,)))
    spikes, traces = [], []
    for x_t in xs:
        out = neuron(x_t, *states)
        states = out if name in RECURRENT else out[1:]
        spikes.append(out[0])
        traces.append(out[-1])
    return torch.stack(spikes), traces


CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("Leaky", dict(beta=0.9)),
    ("Leaky", dict(beta=0.8, reset_mechanism="zero")),
    ("Leaky", dict(beta=0.8, reset_mechanism="none")),
    ("Leaky", dict(beta=torch.rand(4) * 0.9, threshold=torch.rand(4) + 0.5, learn_beta=True, learn_threshold=True)),
    ("Leaky", dict(beta=0.9, graded_spikes_factor=2.5, learn_graded_spikes_factor=True)),
    ("Leaky", dict(beta=0.9, spike_grad=None, reset_delay=False)),
    ("Leaky", dict(beta=0.9, reset_mechanism="zero", reset_delay=False)),
    ("Leaky", dict(beta=0.9, inhibition=True)),
    ("Synaptic", dict(alpha=0.8, beta=0.9)),
    ("Synaptic", dict(alpha=0.7, beta=0.85, reset_mechanism="zero", learn_alpha=True, learn_beta=True)),
    ("Synaptic", dict(alpha=0.8, beta=0.9, reset_delay=False)),
    ("Alpha", dict(alpha=0.9, beta=0.8)),
    ("Alpha", dict(alpha=0.9, beta=0.8, reset_mechanism="subtract")),
    ("Lapicque", dict(beta=0.9)),
    ("Lapicque", dict(R=5.0, C=2.0, time_step=1.0, reset_mechanism="zero")),
    ("RLeaky", dict(beta=0.9, linear_features=4)),
    ("RLeaky", dict(beta=0.9, linear_features=4, reset_mechanism="zero", reset_delay=False)),
    ("RLeaky", dict(beta=0.9, all_to_all=False, V=0.5)),
    ("RSynaptic", dict(alpha=0.8, beta=0.9, linear_features=4)),
    ("RSynaptic", dict(alpha=0.8, beta=0.9, linear_features=4, reset_delay=False)),  # snnTorch ignores it
    ("RSynaptic", dict(alpha=0.8, beta=0.9, all_to_all=False, V=0.3, reset_mechanism="zero")),
]

SURROGATES: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
    ("fast_sigmoid", lambda: real_surrogate.fast_sigmoid(slope=10), lambda: surrogate.fast_sigmoid(slope=10)),
    ("sigmoid", lambda: real_surrogate.sigmoid(slope=5), lambda: surrogate.sigmoid(slope=5)),
    ("spike_rate_escape", lambda: real_surrogate.spike_rate_escape(), lambda: surrogate.spike_rate_escape()),
    ("triangular", lambda: real_surrogate.triangular(), lambda: surrogate.triangular()),
    ("ste", lambda: real_surrogate.straight_through_estimator(), lambda: surrogate.straight_through_estimator()),
    ("SFS", lambda: real_surrogate.SFS(slope=5, B=0.5), lambda: surrogate.SFS(slope=5, B=0.5)),
]


def _compare(name: str, kw: dict[str, Any], xs: torch.Tensor, real_kw: dict[str, Any] | None = None,
             ours_kw: dict[str, Any] | None = None) -> None:
    real, ours = _pair(name, **kw)
    if real_kw or ours_kw:  # different surrogate objects per library
        torch.manual_seed(0)
        real = getattr(snntorch, name)(**kw, **(real_kw or {}))
        ours = getattr(snn, name)(**kw, **(ours_kw or {}))
        ours.load_state_dict(real.state_dict(), strict=name != "Lapicque")
    x_r = xs.clone().requires_grad_(True)
    x_o = xs.clone().requires_grad_(True)
    s_r, v_r = _run(real, name, x_r)
    s_o, v_o = _run(ours, name, x_o)
    assert torch.equal(s_o, s_r.to(s_o.dtype)), "spikes differ"
    torch.testing.assert_close(torch.stack(v_o), torch.stack(v_r).to(xs.dtype), rtol=1e-5, atol=1e-5)
    loss_r = (s_r * torch.linspace(0.5, 1.5, s_r.shape[-1])).sum() + 0.3 * torch.stack(v_r).square().sum()
    loss_o = (s_o * torch.linspace(0.5, 1.5, s_o.shape[-1])).sum() + 0.3 * torch.stack(v_o).square().sum()
    loss_r.backward()
    loss_o.backward()
    torch.testing.assert_close(x_o.grad, x_r.grad.to(xs.dtype), rtol=1e-4, atol=1e-5)
    named_r = dict(real.named_parameters())
    for pname, p in ours.named_parameters():
        if p.grad is not None or named_r[pname].grad is not None:
            torch.testing.assert_close(p.grad, named_r[pname].grad, rtol=1e-4, atol=1e-5, msg=pname)


def _inputs(seed: int = 0, steps: int = 12) -> torch.Tensor:
    return torch.rand(steps, 3, 4, generator=torch.Generator().manual_seed(seed)) * 1.6 - 0.1


@pytest.mark.parametrize("name, kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_neuron_matches_snntorch(name: str, kw: dict[str, Any]) -> None:
    _compare(name, kw, _inputs())


@pytest.mark.parametrize("sname, real_sg, our_sg", SURROGATES, ids=[s[0] for s in SURROGATES])
def test_surrogates_match_snntorch(sname: str, real_sg: Callable[[], Any], our_sg: Callable[[], Any]) -> None:
    _compare("Leaky", dict(beta=0.85), _inputs(1), dict(spike_grad=real_sg()), dict(spike_grad=our_sg()))


def test_reset_delay_false_hidden_second_threshold_reproduced() -> None:
    """snnTorch's reset_delay=False: a membrane left above threshold after a reset needs u > 2 thr."""
    xs = torch.tensor([[[2.5]], [[0.5]], [[0.1]]])
    real, ours = _pair("Leaky", beta=0.5, reset_delay=False)
    s_r, v_r = _run(real, "Leaky", xs)
    s_o, v_o = _run(ours, "Leaky", xs)
    assert s_r.flatten().tolist() == [1.0, 0.0, 0.0] == s_o.flatten().tolist()  # no spike at u = 1.25
    assert torch.allclose(torch.stack(v_o), torch.stack(v_r))


def test_float64_model_keeps_float64() -> None:
    """snnTorch returns float32 spikes from a float64 model; compat keeps the dtype (documented)."""
    ours = snn.Leaky(beta=0.9).double()
    spk, mem = ours(torch.rand(2, 3, dtype=torch.float64) * 2)
    assert spk.dtype == mem.dtype == torch.float64
    rl = snn.RLeaky(beta=0.9, linear_features=3).double()
    spk, mem = rl(torch.rand(2, 3, dtype=torch.float64) * 2)  # snnTorch raises a dtype error here
    assert spk.dtype == torch.float64


def test_init_hidden_and_output_conventions() -> None:
    torch.manual_seed(0)
    xs = _inputs(2)
    for output in (False, True):
        real = snntorch.Leaky(beta=0.9, init_hidden=True, output=output)
        ours = snn.Leaky(beta=0.9, init_hidden=True, output=output)
        outs_r = [real(x) for x in xs]
        outs_o = [ours(x) for x in xs]
        for a, b in zip(outs_r, outs_o, strict=True):
            if output:
                assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])
            else:
                assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    with pytest.raises(TypeError, match="mem"):
        snn.Leaky(beta=0.9, init_hidden=True)(xs[0], torch.zeros(3, 4))


def test_mem_none_continues_from_last_call_like_snntorch() -> None:
    xs = _inputs(3)
    real, ours = snntorch.Leaky(beta=0.9), snn.Leaky(beta=0.9)
    for x in xs:
        a, b = real(x), ours(x)
        assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])


def test_utils_reset_is_per_network() -> None:
    net_a = torch.nn.Sequential(snn.Leaky(beta=0.9, init_hidden=True))
    net_b = torch.nn.Sequential(snn.Leaky(beta=0.9, init_hidden=True))
    x = torch.full((2, 3), 0.6)
    net_a(x)
    net_b(x)
    snn.utils.reset(net_a)
    assert net_a[0].mem.numel() == 0
    assert torch.allclose(net_b[0].mem, torch.full((2, 3), 0.6))  # untouched
    assert not hasattr(snn.SpikingNeuron, "instances")


def test_state_is_not_a_buffer() -> None:
    lif = snn.Synaptic(alpha=0.5, beta=0.9)
    lif(torch.rand(2, 3))
    names = {n for n, _ in lif.named_buffers()}
    assert "mem" not in names and "syn" not in names


def test_slstm_matches_snntorch_when_sizes_equal() -> None:
    """With input_size == hidden_size snnTorch carries the state; both agree."""
    torch.manual_seed(0)
    real = snntorch.SLSTM(4, 4, reset_mechanism="subtract", threshold=0.2)
    ours = snn.SLSTM(4, 4, reset_mechanism="subtract", threshold=0.2)
    ours.load_state_dict(real.state_dict())
    xs = _inputs(4)
    sr, so = real.reset_mem(), ours.reset_mem()
    for x in xs:
        a, b = real(x, *sr), ours(x, *so)
        sr, so = a[1:], b[1:]
        assert torch.equal(a[0], b[0])
        torch.testing.assert_close(b[2], a[2])


def test_sconv2dlstm_matches_snntorch() -> None:
    torch.manual_seed(0)
    real = snntorch.SConv2dLSTM(2, 3, 3, max_pool=2, threshold=0.1)
    ours = snn.SConv2dLSTM(2, 3, 3, max_pool=2, threshold=0.1)
    ours.load_state_dict(real.state_dict())
    xs = torch.rand(4, 2, 2, 6, 6, generator=torch.Generator().manual_seed(5))
    sr, so = real.reset_mem(), ours.reset_mem()
    for x in xs:
        a, b = real(x, *sr), ours(x, *so)
        sr, so = a[1:], b[1:]
        assert torch.equal(a[0], b[0])
        torch.testing.assert_close(b[2], a[2])


def test_spikegen_matches_snntorch() -> None:
    data = torch.rand(5, 7, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(3)
    a = real_spikegen.rate(data, num_steps=9, gain=0.8)
    torch.manual_seed(3)
    assert torch.equal(a, spikegen.rate(data, num_steps=9, gain=0.8))
    seq = torch.rand(6, 5, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(4)
    a = real_spikegen.rate(seq, time_var_input=True)
    torch.manual_seed(4)
    assert torch.equal(a, spikegen.rate(seq, time_var_input=True))
    for kw in (dict(tau=5, threshold=0.01), dict(tau=5, threshold=0.01, clip=True, normalize=True, linear=True),
               dict(tau=2, threshold=0.05, normalize=True), dict(tau=3, linear=True, first_spike_time=2)):
        expected = real_spikegen.latency(data, num_steps=20, **kw)
        assert torch.equal(expected, spikegen.latency(data, num_steps=20, **kw)), kw
    assert torch.equal(real_spikegen.delta(seq, threshold=0.2, off_spike=True),
                       spikegen.delta(seq, threshold=0.2, off_spike=True))


def test_losses_and_accuracy_match_snntorch() -> None:
    g = torch.Generator().manual_seed(0)
    spk = (torch.rand(8, 6, 4, generator=g) > 0.6).float()
    mem = torch.randn(8, 6, 4, generator=g)
    y = torch.tensor([0, 1, 2, 3, 1, 2])
    rates, targets = dict(correct_rate=0.8, incorrect_rate=0.1), dict(on_target=1.2, off_target=-0.1)
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0])
    pairs = [
        (real_SF.ce_rate_loss(), SF.ce_rate_loss(), spk),
        (real_SF.ce_count_loss(), SF.ce_count_loss(), spk),
        (real_SF.ce_max_membrane_loss(), SF.ce_max_membrane_loss(), mem),
        (real_SF.mse_count_loss(**rates), SF.mse_count_loss(**rates), spk),
        (real_SF.mse_membrane_loss(**targets), SF.mse_membrane_loss(**targets), mem),
        (real_SF.ce_count_loss(weight=weight), SF.ce_count_loss(weight=weight), spk),
    ]
    for real, ours, out in pairs:
        a = out.clone().requires_grad_(True)
        b = out.clone().requires_grad_(True)
        lr, lo = real(a, y), ours(b, y)
        torch.testing.assert_close(lo.reshape(lr.shape), lr, msg=type(ours).__name__)
        lr.sum().backward()
        lo.sum().backward()
        torch.testing.assert_close(b.grad, a.grad, msg=type(ours).__name__)
    pop = (torch.rand(8, 6, 12, generator=g) > 0.5).float()
    assert real_SF.accuracy_rate(spk, y) == pytest.approx(SF.accuracy_rate(spk, y))
    assert real_SF.accuracy_rate(pop, y, population_code=True, num_classes=4) == pytest.approx(
        SF.accuracy_rate(pop, y, population_code=True, num_classes=4))
    lr = real_SF.ce_count_loss(population_code=True, num_classes=4)(pop, y)
    lo = SF.ce_count_loss(population_code=True, num_classes=4)(pop, y)
    torch.testing.assert_close(lo, lr)


def test_snntorch_checkpoint_loads_into_compat_network() -> None:
    """A tutorial network saved under snnTorch loads into the same code under compat."""

    def make(lib: Any) -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(5, 4), lib.Leaky(beta=0.9, init_hidden=True),
                                   torch.nn.Linear(4, 2),
                                   lib.Synaptic(alpha=0.5, beta=0.9, init_hidden=True, output=True))

    real, ours = make(snntorch), make(snn)
    ours.load_state_dict(real.state_dict())
    x = _inputs(6, 6)[..., :4]
    x = torch.cat([x, x[..., :1]], -1)
    for x_t in x:
        a, b = real(x_t), ours(x_t)
        assert torch.equal(a[0], b[0])
        torch.testing.assert_close(b[2], a[2])


def test_dataparallel_replica_with_init_hidden_refuses() -> None:
    """nn.DataParallel replicas (marked _is_replica) would drop the hidden state after each call."""
    lif = snn.Leaky(beta=0.9, init_hidden=True)
    lif._is_replica = True
    with pytest.raises(RuntimeError, match="DataParallel"):
        lif(torch.rand(2, 3))
    explicit = snn.Leaky(beta=0.9)
    explicit._is_replica = True
    spk, mem = explicit(torch.rand(2, 3), torch.zeros(2, 3))  # explicit state is returned: correct
    assert mem.shape == (2, 3)


def test_slstm_keeps_state_when_sizes_differ() -> None:
    """snnTorch's SLSTM(input_size != hidden_size) zeroes the passed state every step (its shape
    check compares the state with the input); compat carries it."""
    torch.manual_seed(0)
    real, ours = snntorch.SLSTM(3, 5), snn.SLSTM(3, 5)
    ours.load_state_dict(real.state_dict())
    x = torch.rand(2, 3)
    syn, mem = torch.ones(2, 5), torch.ones(2, 5)
    _, syn_r, mem_r = real(x, syn, mem)
    _, syn_o, mem_o = ours(x, syn, mem)
    _, syn_zero, mem_zero = ours(x, torch.zeros(2, 5), torch.zeros(2, 5))
    torch.testing.assert_close(mem_r, mem_zero)  # snnTorch ignored the passed state
    assert not torch.allclose(mem_o, mem_zero)


def test_bad_inputs_to_compat_raise() -> None:
    with pytest.raises(ValueError, match="input_: expected finite|mem: expected finite"):
        snn.Leaky(beta=0.9)(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match=r"mem: expected shape \(2, 3\)"):
        snn.Leaky(beta=0.9)(torch.rand(2, 3), torch.zeros(4, 3))
    with pytest.raises(TypeError, match="init_hidden"):
        snn.Leaky(beta=0.9, init_hidden="yes")
    with pytest.raises(ValueError, match="beta"):
        snn.Leaky(beta=1.5)
    with pytest.raises(ValueError, match="learn_beta"):
        snn.Lapicque(beta=0.9, learn_beta=True)
    with pytest.raises(ValueError, match="reset_mechanism"):
        snn.Synaptic(alpha=0.5, beta=0.9, reset_mechanism="soft")
