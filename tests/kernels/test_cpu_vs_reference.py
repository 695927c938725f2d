"""The fused ``cpu`` backend reproduces ``reference``: spikes, membranes and every gradient."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from spikeflow import kernels, surrogate
from spikeflow.functional import LeakyState, SynapticState, make_options

pytest.importorskip("numba")

T, B, N = 12, 3, 5


from surrogate_cases import SURROGATES  # noqa: E402

SPIKING = ["leaky", "lapicque", "synaptic"]
CASES = list(itertools.product(SPIKING, ["subtract", "zero", "none"], [True, False], [None, "flip"], [False, True]))


def _params(model: str, per_neuron: bool, graded: bool, gen: torch.Generator) -> dict[str, torch.Tensor]:
    def decay(lo: float) -> torch.Tensor:
        v = lo + (0.95 - lo) * torch.rand(N if per_neuron else (), generator=gen, dtype=torch.float64)
        return v.requires_grad_(per_neuron)

    thr = (0.8 + 0.4 * torch.rand(N if per_neuron else (), generator=gen, dtype=torch.float64)).requires_grad_()
    g = torch.tensor(0.7, dtype=torch.float64, requires_grad=True) if graded else torch.tensor(1.0, dtype=torch.float64)
    if model == "leaky":
        return {"beta": decay(0.5), "threshold": thr, "graded": g}
    if model == "lapicque":
        return {"decay": decay(0.5), "gain": torch.tensor(1.3, dtype=torch.float64), "threshold": thr, "graded": g}
    return {"alpha": decay(0.3), "beta": decay(0.5), "threshold": thr, "graded": g}


def _state(model: str, gen: torch.Generator) -> Any:
    v = (0.5 * torch.randn(B, N, generator=gen, dtype=torch.float64)).requires_grad_()
    if model in ("synaptic", "cuba_li"):
        return SynapticState((0.3 * torch.randn(B, N, generator=gen, dtype=torch.float64)).requires_grad_(), v)
    return LeakyState(v)


def _run_both(model, x, state, params, opts, record):
    results = []
    for backend in ("reference", "cpu"):
        out, st = kernels.run(model, x, state, params, opts, record=record, backend=backend)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        loss = (out * weights).sum() + sum((f * f).sum() for f in st)
        leaves = [x, *state, *(p for p in params.values() if isinstance(p, torch.Tensor) and p.requires_grad)]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        results.append((out, st, grads))
    return results


@pytest.mark.parametrize("model,reset,delay,detach,per_neuron", CASES)
def test_cpu_matches_reference(model: str, reset: str, delay: bool, detach: Any, per_neuron: bool) -> None:
    idx = CASES.index((model, reset, delay, detach, per_neuron))
    gen = torch.Generator().manual_seed(idx)
    opts = make_options(
        reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)]
    )
    params = _params(model, per_neuron, graded=bool(idx % 2), gen=gen)
    x = (0.9 * torch.randn(T, B, N, generator=gen, dtype=torch.float64) + 0.2).requires_grad_()
    state = _state(model, gen)
    for record in (False, True):
        (o1, s1, g1), (o2, s2, g2) = _run_both(model, x, state, params, opts, record)
        assert o1.sum() > 0, "test input must make the neuron fire"
        assert torch.equal(o1, o2)
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("model", ["li", "cuba_li"])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_cpu_matches_reference_readouts(model: str, per_neuron: bool) -> None:
    gen = torch.Generator().manual_seed(7)
    params = _params("synaptic", per_neuron, False, gen)
    params = {"beta": params["beta"]} if model == "li" else {"alpha": params["alpha"], "beta": params["beta"]}
    x = torch.randn(T, B, N, generator=gen, dtype=torch.float64).requires_grad_()
    state = _state(model, gen)
    for record in (False, True):
        (o1, s1, g1), (o2, s2, g2) = _run_both(model, x, state, params, None, record)
        torch.testing.assert_close(o2, o1, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


def test_float32_spikes_equal_and_flips_reported() -> None:
    """float32 on a bigger layer: spikes equal except where |v - thr| < 1e-6 (counted, must be rare)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(60, 8, 64, generator=gen)
    opts = make_options("subtract", True)
    params = {"beta": torch.tensor(0.9), "threshold": torch.tensor(1.0), "graded": torch.tensor(1.0)}
    state = LeakyState(torch.zeros(8, 64))
    o1, v1 = kernels.run("leaky", x, state, params, opts, record=True, backend="reference")
    o2, v2 = kernels.run("leaky", x, state, params, opts, record=True, backend="cpu")
    flips = (o1 != o2)
    near = (v1.v - 1.0).abs() < 1e-6
    assert not (flips & ~near).any()
    assert flips.sum().item() == 0, f"{flips.sum().item()} spike flips, all within 1e-6 of threshold"
    torch.testing.assert_close(v2.v, v1.v, rtol=1e-5, atol=1e-6)


def test_float32_gradients_close() -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(40, 4, 32, generator=gen).requires_grad_()
    beta = torch.full((32,), 0.85, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    opts = make_options("zero", False)
    grads = []
    for backend in ("reference", "cpu"):
        params = {"beta": beta, "threshold": thr, "graded": 1.0}
        out, st = kernels.run("leaky", x, LeakyState(torch.zeros(4, 32)), params, opts, backend=backend)
        grads.append(torch.autograd.grad(out.sum() + st.v.sum(), [x, beta, thr]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["leaky", "synaptic", "li"])
def test_gradcheck_membrane_reset_none(model: str) -> None:
    """float64 gradcheck of the membrane trace (reset none: smooth in every input)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(6, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([0.5, 0.7, 0.9], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    opts = make_options("none", True)

    def fn(x, v0, beta, alpha):
        if model == "leaky":
            _, tr = kernels.run(model, x, LeakyState(v0), {"beta": beta, "threshold": torch.tensor(1.0, dtype=x.dtype),
                                                           "graded": 1.0}, opts, record=True, backend="cpu")
            return tr.v
        if model == "li":
            return kernels.run(model, x, LeakyState(v0), {"beta": beta}, None, record=True, backend="cpu")[0]
        _, tr = kernels.run(model, x, SynapticState(v0 * 0.5, v0), {"alpha": alpha, "beta": beta,
                            "threshold": torch.tensor(1.0, dtype=x.dtype), "graded": 1.0}, opts, record=True,
                            backend="cpu")
        return tr.i.sum() + tr.v

    assert torch.autograd.gradcheck(fn, (x, v0, beta, alpha))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("delay", [True, False])
def test_gradcheck_spike_free_regime(reset: str, delay: bool) -> None:
    """With the threshold far away nothing fires: the membrane is smooth in x, beta and v0."""
    gen = torch.Generator().manual_seed(6)
    x = (0.1 * torch.randn(5, 2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    v0 = (0.1 * torch.randn(2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    beta = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    opts = make_options(reset, delay, detach_reset=False, surrogate=surrogate.Triangular(width=1.0))

    def fn(x, v0, beta):
        params = {"beta": beta, "threshold": torch.tensor(50.0, dtype=x.dtype), "graded": 1.0}
        out, tr = kernels.run("leaky", x, LeakyState(v0), params, opts, record=True, backend="cpu")
        return tr.v + out

    assert torch.autograd.gradcheck(fn, (x, v0, beta))


def test_saved_memory_is_one_tensor_per_step() -> None:
    """The fused backward keeps ~1 float per neuron-step; the reference loop keeps several."""
    x = torch.randn(50, 4, 16, requires_grad=True)
    opts = make_options("subtract", True)
    params = {"beta": torch.tensor(0.9), "threshold": torch.tensor(1.0), "graded": torch.tensor(1.0)}
    sizes = {}
    for backend in ("reference", "cpu"):
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor, seen: dict[int, int] = seen) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            kernels.run("leaky", x, LeakyState(torch.zeros(4, 16)), params, opts, backend=backend)
        sizes[backend] = sum(seen.values())
    assert sizes["cpu"] <= x.numel() * 4 + 4 * 16 * 4 * 4
    assert sizes["cpu"] < 0.6 * sizes["reference"]
