"""The fused ``cpu`` kernel of the adaptive LIF reproduces ``reference``: spikes, every state
field (final and trace) and the gradients wrt the input, the initial state and every parameter."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

import spikeflow as sf
from spikeflow import kernels, surrogate
from spikeflow.functional import AdaptiveState, make_options

pytest.importorskip("numba")
from spikeflow.kernels import _cpu_util, cpu_adaptive  # noqa: E402

T, B, N = 12, 3, 5
F64 = torch.float64


from surrogate_cases import SURROGATES  # noqa: E402

# reset, reset_delay, detach_reset (None: the default; "flip": the other choice), parameter shape
CASES = list(itertools.product(["subtract", "zero", "none"], [True, False], [None, "flip"], ["scalar", "neuron"]))


def _params(shape: str, graded: bool, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Learnable beta, rho, adaptation, threshold (scalar, [N] or [1, N]) and graded."""
    size: tuple[int, ...] = {"scalar": (), "neuron": (N,), "row": (1, N)}[shape]

    def rand(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(size, generator=gen, dtype=F64)).requires_grad_()

    g = torch.tensor(0.7, dtype=F64, requires_grad=True) if graded else torch.tensor(1.0, dtype=F64)
    return {
        "beta": rand(0.5, 0.95),
        "rho": rand(0.6, 0.95),
        "adaptation": rand(0.1, 0.5),
        "threshold": rand(0.8, 1.2),
        "graded": g,
    }


def _state(gen: torch.Generator, shape: tuple[int, ...] = (B, N)) -> AdaptiveState:
    """A non-resting initial state; z0 is not 0/1, to check the general formula."""
    v0 = 0.5 * torch.randn(shape, generator=gen, dtype=F64)
    a0 = 0.2 * torch.rand(shape, generator=gen, dtype=F64)
    z0 = torch.rand(shape, generator=gen, dtype=F64)
    return AdaptiveState(v0.requires_grad_(), a0.requires_grad_(), z0.requires_grad_())


def _run(backend: str, x, state, params, opts, record: bool):
    out, st = kernels.run("adaptive", x, state, params, opts, record=record, backend=backend)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum() + sum((f * f).sum() for f in st)
    leaves = [x, *state, *(p for p in params.values() if isinstance(p, torch.Tensor) and p.requires_grad)]
    return out, st, torch.autograd.grad(loss, leaves, allow_unused=True)


def _assert_same(x, state, params, opts, record: bool) -> None:
    o1, s1, g1 = _run("reference", x, state, params, opts, record)
    o2, s2, g2 = _run("cpu", x, state, params, opts, record)
    assert o1.sum() > 0, "test input must make the neuron fire"
    assert torch.equal(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("reset,delay,detach,shape", CASES)
def test_cpu_adaptive_matches_reference(reset: str, delay: bool, detach: Any, shape: str) -> None:
    idx = CASES.index((reset, delay, detach, shape))
    gen = torch.Generator().manual_seed(idx)
    opts = make_options(reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)])
    if shape == "neuron" and idx % 4 == 3:
        shape = "row"  # a broadcastable [1, N] parameter: gradients summed back to its shape
    params = _params(shape, graded=bool(idx % 2), gen=gen)
    x = (0.9 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.3).requires_grad_()
    state = _state(gen)
    for record in (False, True):
        _assert_same(x, state, params, opts, record)


def test_cpu_adaptive_multi_dim_broadcast_params() -> None:
    """Neurons [2, 3] per sample; beta [3], threshold [2, 1], adaptation [1, 3], rho scalar."""
    gen = torch.Generator().manual_seed(40)
    opts = make_options("subtract", False, False, surrogate.FastSigmoid())
    params = {
        "beta": torch.tensor([0.7, 0.8, 0.9], dtype=F64, requires_grad=True),
        "rho": torch.tensor(0.85, dtype=F64, requires_grad=True),
        "adaptation": torch.tensor([[0.2, 0.3, 0.4]], dtype=F64, requires_grad=True),
        "threshold": torch.tensor([[0.9], [1.1]], dtype=F64, requires_grad=True),
        "graded": 1.0,
    }
    x = (torch.randn(T, B, 2, 3, generator=gen, dtype=F64) + 0.3).requires_grad_()
    state = _state(gen, (B, 2, 3))
    for record in (False, True):
        _assert_same(x, state, params, opts, record)


CHUNK_CASES = [("subtract", True, None), ("zero", False, False), ("subtract", False, False), ("zero", True, False)]


@pytest.mark.parametrize("reset,delay,detach", CHUNK_CASES)
@pytest.mark.parametrize("chunk_steps", [1, 5])
def test_cpu_adaptive_chunks(
    monkeypatch: pytest.MonkeyPatch, reset: str, delay: bool, detach: Any, chunk_steps: int
) -> None:
    """The backward rebuilds a from per-chunk checkpoints: tiny chunks must give the reference
    results, bit-identical to one chunk."""
    gen = torch.Generator().manual_seed(50 + chunk_steps)
    opts = make_options(reset, delay, detach, surrogate.ATan())
    params = _params("neuron", graded=True, gen=gen)
    x = (0.9 * torch.randn(13, B, N, generator=gen, dtype=F64) + 0.3).requires_grad_()
    state = _state(gen)
    results = []
    for chunk in (1 << 30, chunk_steps * B * N):
        monkeypatch.setattr(_cpu_util, "CHUNK_ELEMS", chunk)
        results.append(_run("cpu", x, state, params, opts, record=False))
    for a, b in zip(results[0][2], results[1][2], strict=True):
        assert torch.equal(a, b)
    assert torch.equal(results[0][0], results[1][0])
    for record in (False, True):
        _assert_same(x, state, params, opts, record)


@pytest.mark.parametrize("field,record", [("a", False), ("z", False), ("v", True), ("a", True)])
def test_loss_on_one_state_field_only(field: str, record: bool) -> None:
    """No spike gradient reaches the backward (only one state field is in the loss): same gradients."""
    gen = torch.Generator().manual_seed(60)
    opts = make_options("subtract", False, False, surrogate.Sigmoid(slope=4.0))
    params = _params("neuron", graded=False, gen=gen)
    x = (0.9 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.3).requires_grad_()
    state = _state(gen)
    leaves = [x, *state, *(p for p in params.values() if p.requires_grad)]
    grads = []
    for backend in ("reference", "cpu"):
        out, st = kernels.run("adaptive", x, state, params, opts, record=record, backend=backend)
        assert out.sum() > 0
        grads.append(torch.autograd.grad(getattr(st, field).square().sum(), leaves, allow_unused=True))
    for a, b in zip(*grads, strict=True):
        if a is None:  # unused by the reference graph: the fused backward must give zeros
            assert b is None or not b.any()
        else:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


def test_float32_spikes_and_gradients() -> None:
    """float32 on a bigger layer: spikes equal except where |v - b| < 1e-6 (counted), gradients close."""
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(60, 8, 64, generator=gen) + 0.3).requires_grad_()
    opts = make_options("subtract", True, surrogate=surrogate.ATan())
    params = {
        "beta": torch.full((64,), 0.9, requires_grad=True),
        "rho": torch.tensor(0.95, requires_grad=True),
        "adaptation": torch.tensor(0.2, requires_grad=True),
        "threshold": torch.tensor(1.0, requires_grad=True),
        "graded": 1.0,
    }
    state = AdaptiveState(*(torch.zeros(8, 64) for _ in range(3)))
    res = []
    for backend in ("reference", "cpu"):
        out, tr = kernels.run("adaptive", x, state, params, opts, record=True, backend=backend)
        loss = (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum() + tr.v.square().sum()
        res.append((out, tr, torch.autograd.grad(loss, [x, *(params[k] for k in ("beta", "rho", "adaptation",
                                                                               "threshold"))])))
    (o1, tr1, g1), (o2, tr2, g2) = res
    flips = o1 != o2
    near = (tr1.v - (params["threshold"] + tr1.a)).abs() < 1e-6
    assert not (flips & ~near).any()
    assert flips.sum().item() == 0, f"{flips.sum().item()} spike flips, all within 1e-6 of threshold"
    torch.testing.assert_close(tr2.v, tr1.v, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tr2.a, tr1.a, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-4 * a.abs().max().item())


@pytest.mark.parametrize("reset,delay", [("subtract", True), ("zero", True), ("subtract", False), ("zero", False)])
def test_gradcheck_spike_free_regime(reset: str, delay: bool) -> None:
    """Far below threshold nothing fires: the traces are smooth in x, v0, a0, z0 (z0 enters the
    adaptation and the delayed reset) and every parameter; float64 gradcheck of the fused backward."""
    gen = torch.Generator().manual_seed(6)
    x = (0.1 * torch.randn(4, 2, 3, generator=gen, dtype=F64)).requires_grad_()
    v0, a0, z0 = (torch.rand(2, 3, generator=gen, dtype=F64).requires_grad_() for _ in range(3))
    beta = torch.tensor([0.6, 0.7, 0.8], dtype=F64, requires_grad=True)
    rho = torch.tensor(0.9, dtype=F64, requires_grad=True)
    adp = torch.tensor([0.2, 0.3, 0.4], dtype=F64, requires_grad=True)
    thr = torch.tensor(20.0, dtype=F64, requires_grad=True)
    opts = make_options(reset, delay, detach_reset=False, surrogate=surrogate.Triangular(width=1.0))

    def fn(x, v0, a0, z0, beta, rho, adp, thr):
        params = {"beta": beta, "rho": rho, "adaptation": adp, "threshold": thr, "graded": 1.0}
        out, tr = kernels.run("adaptive", x, AdaptiveState(v0, a0, z0), params, opts, record=True, backend="cpu")
        return out, tr.v, tr.a

    assert torch.autograd.gradcheck(fn, (x, v0, a0, z0, beta, rho, adp, thr))


def test_module_cpu_equals_reference() -> None:
    """sf.AdaptiveLeaky(backend="cpu") gives the reference outputs and parameter gradients."""
    gen = torch.Generator().manual_seed(8)
    x = (torch.randn(T, B, N, generator=gen, dtype=F64) + 0.4).requires_grad_()
    results = []
    for backend in ("reference", "cpu"):
        torch.manual_seed(0)
        lif = sf.AdaptiveLeaky(
            beta=torch.linspace(0.6, 0.9, N), rho=0.9, adaptation=0.3, threshold=1.0, learn_beta=True, learn_rho=True,
            learn_adaptation=True, learn_threshold=True, graded_spikes=0.8, learn_graded_spikes=True,
            reset_delay=False, surrogate="fast_sigmoid", backend=backend,
        ).double()
        out, st = lif(x)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=F64).reshape(out.shape)).sum() + st.v.square().sum()
        grads = torch.autograd.grad(loss, [x, *lif.parameters()])
        results.append((out, st, grads))
    (o1, s1, g1), (o2, s2, g2) = results
    assert o1.sum() > 0
    assert torch.equal(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


def test_inhibition_is_declined() -> None:
    x = torch.randn(3, 2, 4)
    assert cpu_adaptive.supports("adaptive", x, make_options())
    assert not cpu_adaptive.supports("adaptive", x, make_options(inhibition=True))
    assert not cpu_adaptive.supports("leaky", x, make_options())


def test_saved_memory_is_about_one_tensor_per_step() -> None:
    """The fused backward keeps u [T, B, N] plus O(B x N) checkpoints; the reference loop keeps several."""
    x = torch.randn(50, 4, 16, requires_grad=True)
    opts = make_options("subtract", True)
    params = {"beta": torch.tensor(0.9), "rho": torch.tensor(0.9), "adaptation": torch.tensor(0.2),
              "threshold": torch.tensor(1.0, requires_grad=True), "graded": 1.0}
    sizes = {}
    for backend in ("reference", "cpu"):
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor, seen: dict[int, int] = seen) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            kernels.run("adaptive", x, AdaptiveState(*(torch.zeros(4, 16) for _ in range(3))), params, opts,
                        backend=backend)
        sizes[backend] = sum(seen.values())
    assert sizes["cpu"] <= x.numel() * 4 + 8 * 4 * 16 * 4
    assert sizes["cpu"] < 0.6 * sizes["reference"]
