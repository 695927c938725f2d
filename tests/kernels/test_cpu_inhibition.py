"""Winner-take-all on the fused ``cpu`` kernel beyond the conformance suite: input-only
gradients, one winner per sample and ties, float32, gradchecks, the neuron modules."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import spikeflow as sf
from spikeflow import kernels, surrogate
from spikeflow.functional import LeakyState, SynapticState, make_options

pytest.importorskip("numba")

T, B = 12, 3


from surrogate_cases import SURROGATES  # noqa: E402

MODELS = ["leaky", "lapicque", "synaptic"]


def _params(model: str, fshape: tuple[int, ...], per_neuron: bool, graded: bool, gen: torch.Generator,
            dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    shape = fshape if per_neuron else ()

    def rand(lo: float, hi: float, grad: bool = True) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=dtype)).requires_grad_(grad)

    thr = rand(0.8, 1.2)
    g = torch.tensor(0.7, dtype=dtype, requires_grad=True) if graded else torch.tensor(1.0, dtype=dtype)
    if model == "leaky":
        return {"beta": rand(0.5, 0.95, per_neuron), "threshold": thr, "graded": g}
    if model == "lapicque":
        return {"decay": rand(0.5, 0.95, per_neuron), "gain": torch.tensor(1.3, dtype=dtype), "threshold": thr,
                "graded": g}
    return {"alpha": rand(0.3, 0.9), "beta": rand(0.5, 0.95, per_neuron), "threshold": thr, "graded": g}


def _state(model: str, fshape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype = torch.float64) -> Any:
    v = (0.5 * torch.randn(B, *fshape, generator=gen, dtype=dtype)).requires_grad_()
    if model == "synaptic":
        return SynapticState((0.3 * torch.randn(B, *fshape, generator=gen, dtype=dtype)).requires_grad_(), v)
    return LeakyState(v)


def _run(backend: str, model: str, x, state, params, opts, record: bool, spikes_in_loss: bool = True):
    out, st = kernels.run(model, x, state, params, opts, record=record, backend=backend)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = sum((f * f).sum() for f in st)
    if spikes_in_loss:  # else the backward gets no spike gradient at all
        loss = loss + (out * weights).sum()
    leaves = [x, *state, *(p for p in params.values() if p.requires_grad)]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return out, st, [torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, leaves, strict=True)]


def _compare(model: str, x, state, params, opts, record: bool, spikes_in_loss: bool = True) -> None:
    o1, s1, g1 = _run("reference", model, x, state, params, opts, record, spikes_in_loss)
    o2, s2, g2 = _run("cpu", model, x, state, params, opts, record, spikes_in_loss)
    assert o1.sum() > 0, "test input must make the neuron fire"
    assert torch.equal(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_inhibition_input_only_gradients(model: str, reset: str) -> None:
    """The common training case (fixed parameters, detached delayed reset, no trace): the
    backward evaluates the surrogate at the winners only; x and state gradients match."""
    idx = MODELS.index(model) * 3 + ["subtract", "zero", "none"].index(reset)
    gen = torch.Generator().manual_seed(200 + idx)
    fshape = (2, 3)
    opts = make_options(reset, True, None, SURROGATES[idx % len(SURROGATES)], inhibition=True)
    params = {k: v.detach() for k, v in _params(model, fshape, bool(idx % 2), False, gen).items()}
    x = (torch.randn(T, B, *fshape, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    state = _state(model, fshape, gen)
    for spikes_in_loss in (True, False):
        _compare(model, x, state, params, opts, False, spikes_in_loss)


@pytest.mark.parametrize("model", MODELS)
def test_inhibition_one_winner_per_sample_and_ties(model: str) -> None:
    """At most one spike per sample and step; exact ties go to the first feature (torch.argmax)."""
    x = torch.zeros(6, B, 4, dtype=torch.float64)
    x[:, :, 1] = 1.5  # features 1 and 3 tie at every step
    x[:, :, 3] = 1.5
    x[:, 1, 0] = 0.3
    opts = make_options("none", False, inhibition=True)  # no reset: the tie persists
    params = _params(model, (4,), False, False, torch.Generator().manual_seed(0))
    params = {k: v.detach() for k, v in params.items()}
    params["threshold"] = torch.tensor(1.0, dtype=torch.float64)
    state = _state(model, (4,), torch.Generator().manual_seed(1))
    state = type(state)(*(torch.zeros_like(f) for f in state))
    outs = [kernels.run(model, x, state, params, opts, backend=b)[0] for b in ("reference", "cpu")]
    assert torch.equal(outs[0], outs[1])
    assert outs[1].sum() > 0
    assert (outs[1] != 0).sum(dim=2).max() <= 1
    assert outs[1][:, :, 3].sum() == 0


def test_inhibition_float32_spikes_equal_and_flips_reported() -> None:
    """float32 on a bigger layer: spikes equal except where |v - thr| < 1e-6 (counted)."""
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(60, 8, 64, generator=gen) + 0.3).requires_grad_()
    beta = torch.full((64,), 0.9, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    opts = make_options("subtract", False, inhibition=True)
    results = []
    for backend in ("reference", "cpu"):
        params = {"beta": beta, "threshold": thr, "graded": 1.0}
        out, tr = kernels.run("leaky", x, LeakyState(torch.zeros(8, 64)), params, opts, record=True, backend=backend)
        grads = torch.autograd.grad(out.sum() + tr.v[-1].square().sum(), [x, beta, thr])
        results.append((out, tr.v, grads))
    (o1, v1, g1), (o2, v2, g2) = results
    assert o1.sum() > 0
    flips = o1 != o2
    near = (v1 - 1.0).abs() < 1e-6
    assert not (flips & ~near).any()
    assert flips.sum().item() == 0, f"{flips.sum().item()} spike flips, all within 1e-6 of threshold"
    torch.testing.assert_close(v2, v1, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["leaky", "synaptic"])
def test_inhibition_gradcheck_membrane_reset_none(model: str) -> None:
    """float64 gradcheck of the membrane trace (reset none: smooth; the winner only gates spikes)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([0.5, 0.7, 0.9], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    opts = make_options("none", True, inhibition=True)

    def fn(x, v0, beta, alpha):
        thr = torch.tensor(1.0, dtype=x.dtype)
        if model == "leaky":
            params = {"beta": beta, "threshold": thr, "graded": 1.0}
            return kernels.run(model, x, LeakyState(v0), params, opts, record=True, backend="cpu")[1].v
        params = {"alpha": alpha, "beta": beta, "threshold": thr, "graded": 1.0}
        _, tr = kernels.run(model, x, SynapticState(0.5 * v0, v0), params, opts, record=True, backend="cpu")
        return tr.i, tr.v

    assert torch.autograd.gradcheck(fn, (x, v0, beta, alpha))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_inhibition_gradcheck_spike_free_regime(reset: str) -> None:
    """Same-step attached reset, threshold far away, compact surrogate: smooth in every input."""
    gen = torch.Generator().manual_seed(6)
    x = (0.3 * torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    i0, v0 = ((0.1 * torch.randn(2, 3, generator=gen, dtype=torch.float64)).requires_grad_() for _ in range(2))
    beta = torch.tensor([0.5, 0.7, 0.9], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    opts = make_options(reset, False, False, surrogate.Triangular(width=1.0), inhibition=True)

    def fn(x, i0, v0, beta, alpha):
        params = {"alpha": alpha, "beta": beta, "threshold": torch.tensor(50.0, dtype=x.dtype), "graded": 1.0}
        out, tr = kernels.run("synaptic", x, SynapticState(i0, v0), params, opts, record=True, backend="cpu")
        return out, tr.i, tr.v

    assert torch.autograd.gradcheck(fn, (x, i0, v0, beta, alpha))


@pytest.mark.parametrize("cls", ["Leaky", "Synaptic", "Lapicque"])
def test_inhibition_module_cpu_equals_reference(cls: str) -> None:
    """``sf.<Model>(..., inhibition=True, backend="cpu")`` on [T, B, C, H, W] equals reference."""
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(10, 3, 2, 2, 3, generator=gen, dtype=torch.float64) + 0.4
    kwargs: dict[str, Any] = {"inhibition": True, "learn_threshold": True, "reset_delay": False}
    if cls == "Leaky":
        kwargs.update(beta=0.8, learn_beta=True)
    elif cls == "Synaptic":
        kwargs.update(alpha=0.5, beta=0.8, learn_alpha=True, learn_beta=True)
    else:
        kwargs.update(beta=0.8)
    results = []
    for backend in ("reference", "cpu"):
        lif = getattr(sf, cls)(backend=backend, **kwargs).double()
        out, st = lif(x)
        (out.sum() + st.v.square().sum()).backward()
        results.append((out, st, [p.grad for p in lif.parameters()]))
    (o1, s1, g1), (o2, s2, g2) = results
    assert o1.sum() > 0
    assert torch.equal(o1, o2)
    assert (o2.flatten(2) != 0).sum(dim=2).max() == 1
    for a, b in zip([*s1, *g1], [*s2, *g2], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)


def test_inhibition_supports() -> None:
    x = torch.zeros(2, 2, 3)
    for model in MODELS:
        assert kernels.resolve("cpu", model, x, make_options(inhibition=True)) == "cpu"
    for model in ("alpha", "adaptive"):  # every model with rows: winner-take-all is a driver variant
        assert kernels.resolve("cpu", model, x, make_options("zero", True, inhibition=True)) == "cpu"
