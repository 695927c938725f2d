"""The ``triton`` backend reproduces ``reference``: spikes, membranes and every gradient.

With CUDA the kernels are compiled and run on the GPU; without it they run in the Triton
interpreter on CPU tensors (TRITON_INTERPRET=1, set only while the kernels are decorated and
during these tests, so that ``auto`` elsewhere in the session is unaffected).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import pytest
import torch

pytest.importorskip("triton")

import spikeflow as sf  # noqa: E402
from spikeflow import kernels, surrogate  # noqa: E402
from spikeflow.functional import AdaptiveState, AlphaState, LeakyState, SynapticState, make_options  # noqa: E402
from spikeflow.kernels import triton_lif  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
if not CUDA:  # triton.jit reads TRITON_INTERPRET when it decorates, i.e. on the kernels' first import
    _before = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        triton_lif._kernels()
    finally:
        if _before is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = _before
    if not triton_lif._interpreted():
        pytest.skip("triton kernels were loaded for the GPU before this module; no CUDA here", allow_module_level=True)


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    if not CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


T, B, N = 12, 3, 5
F64 = torch.float64


from surrogate_cases import SURROGATES  # noqa: E402

SPIKING = ["leaky", "lapicque", "synaptic"]
CASES = list(itertools.product(SPIKING, ["subtract", "zero", "none"], [True, False], [None, "flip"], [False, True]))


def _leaf(t: torch.Tensor, grad: bool = True) -> torch.Tensor:
    return t.to(DEVICE).requires_grad_(grad)


def _params(model: str, per_neuron: bool, graded: bool, gen: torch.Generator) -> dict[str, torch.Tensor]:
    def decay(lo: float) -> torch.Tensor:
        v = lo + (0.95 - lo) * torch.rand(N if per_neuron else (), generator=gen, dtype=F64)
        return _leaf(v, per_neuron)

    thr = _leaf(0.8 + 0.4 * torch.rand(N if per_neuron else (), generator=gen, dtype=F64))
    g = _leaf(torch.tensor(0.7, dtype=F64)) if graded else _leaf(torch.tensor(1.0, dtype=F64), False)
    if model == "leaky":
        return {"beta": decay(0.5), "threshold": thr, "graded": g}
    if model == "lapicque":
        gain = _leaf(torch.tensor(1.3, dtype=F64), False)
        return {"decay": decay(0.5), "gain": gain, "threshold": thr, "graded": g}
    return {"alpha": decay(0.3), "beta": decay(0.5), "threshold": thr, "graded": g}


def _state(model: str, gen: torch.Generator) -> Any:
    v = _leaf(0.5 * torch.randn(B, N, generator=gen, dtype=F64))
    if model in ("synaptic", "cuba_li"):
        return SynapticState(_leaf(0.3 * torch.randn(B, N, generator=gen, dtype=F64)), v)
    return LeakyState(v)


def _run_both(model, x, state, params, opts, record):
    results = []
    for backend in ("reference", "triton"):
        out, st = kernels.run(model, x, state, params, opts, record=record, backend=backend)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
        loss = (out * weights).sum() + sum((f * f).sum() for f in st)
        leaves = [x, *state, *(p for p in params.values() if isinstance(p, torch.Tensor) and p.requires_grad)]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        results.append((out, st, grads))
    return results


@pytest.mark.parametrize("model,reset,delay,detach,per_neuron", CASES)
def test_triton_matches_reference(model: str, reset: str, delay: bool, detach: Any, per_neuron: bool) -> None:
    idx = CASES.index((model, reset, delay, detach, per_neuron))
    gen = torch.Generator().manual_seed(idx)
    opts = make_options(reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)])
    params = _params(model, per_neuron, graded=bool(idx % 2), gen=gen)
    x = _leaf(0.9 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.2)
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
def test_triton_matches_reference_readouts(model: str, per_neuron: bool) -> None:
    gen = torch.Generator().manual_seed(7)
    params = _params("synaptic", per_neuron, False, gen)
    params = {"beta": params["beta"]} if model == "li" else {"alpha": params["alpha"], "beta": params["beta"]}
    x = _leaf(torch.randn(T, B, N, generator=gen, dtype=F64))
    state = _state(model, gen)
    for record in (False, True):
        (o1, s1, g1), (o2, s2, g2) = _run_both(model, x, state, params, None, record)
        torch.testing.assert_close(o2, o1, rtol=1e-12, atol=1e-12)
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


ALPHA_CASES = list(itertools.product(["subtract", "zero", "none"], [True, False], [None, "flip"], [False, True]))


@pytest.mark.parametrize("reset,delay,detach,per_neuron", ALPHA_CASES)
def test_alpha_matches_reference(reset: str, delay: bool, detach: Any, per_neuron: bool) -> None:
    """The alpha neuron: every reset, both delays (no reset without the delay), detach both ways."""
    idx = ALPHA_CASES.index((reset, delay, detach, per_neuron))
    gen = torch.Generator().manual_seed(100 + idx)
    opts = make_options(reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)])
    shape = (N,) if per_neuron else ()
    params = {
        "alpha": _leaf(0.8 + 0.15 * torch.rand(shape, generator=gen, dtype=F64)),
        "beta": _leaf(0.4 + 0.3 * torch.rand(shape, generator=gen, dtype=F64)),
        "threshold": _leaf(0.5 + 0.3 * torch.rand(shape, generator=gen, dtype=F64)),
        "graded": _leaf(torch.tensor(0.7, dtype=F64), idx % 2 == 1),
    }
    state = AlphaState(*(_leaf(0.3 * torch.randn(B, N, generator=gen, dtype=F64)) for _ in range(3)))
    x = _leaf(0.8 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.3)
    for record in (False, True):
        (o1, s1, g1), (o2, s2, g2) = _run_both("alpha", x, state, params, opts, record)
        assert o1.sum() > 0, "test input must make the neuron fire"
        assert torch.equal(o1, o2)
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            if a is None:  # the reference graph does not reach it (e.g. v0 with a detached reset)
                assert b is None or not b.any()
            else:
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("reset,delay,detach,per_neuron", ALPHA_CASES)
def test_adaptive_matches_reference(reset: str, delay: bool, detach: Any, per_neuron: bool) -> None:
    """The adaptive-threshold LIF: every reset, both delays, detach both ways, all parameters learnable."""
    idx = ALPHA_CASES.index((reset, delay, detach, per_neuron))
    gen = torch.Generator().manual_seed(200 + idx)
    opts = make_options(reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)])
    shape = (N,) if per_neuron else ()

    def uniform(lo: float, width: float) -> torch.Tensor:
        return _leaf(lo + width * torch.rand(shape, generator=gen, dtype=F64))

    params = {"beta": uniform(0.6, 0.3), "rho": uniform(0.7, 0.2), "adaptation": uniform(0.1, 0.3),
              "threshold": uniform(0.6, 0.4), "graded": _leaf(torch.tensor(0.7, dtype=F64), idx % 2 == 1)}
    state = AdaptiveState(_leaf(0.3 * torch.randn(B, N, generator=gen, dtype=F64)),
                          _leaf(0.2 * torch.rand(B, N, generator=gen, dtype=F64)),
                          _leaf((torch.rand(B, N, generator=gen) > 0.5).to(F64)))
    x = _leaf(0.8 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.4)
    for record in (False, True):
        (o1, s1, g1), (o2, s2, g2) = _run_both("adaptive", x, state, params, opts, record)
        assert o1.sum() > 0, "test input must make the neuron fire"
        assert torch.equal(o1, o2)
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            if a is None:
                assert b is None or not b.any()
            else:
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


def test_alpha_gradcheck_reset_none() -> None:
    gen = torch.Generator().manual_seed(12)
    x = _leaf(torch.randn(4, 2, 3, generator=gen, dtype=F64))
    e0 = _leaf(torch.randn(2, 3, generator=gen, dtype=F64))
    alpha = _leaf(torch.tensor([0.8, 0.85, 0.9], dtype=F64))
    beta = _leaf(torch.tensor(0.5, dtype=F64))
    opts = make_options("none", True)

    def fn(x, e0, alpha, beta):
        params = {"alpha": alpha, "beta": beta, "threshold": torch.tensor(1.0, dtype=F64, device=DEVICE),
                  "graded": 1.0}
        _, tr = kernels.run("alpha", x, AlphaState(e0, -0.5 * e0, e0 * 0), params, opts, record=True,
                            backend="triton")
        return tr.v + tr.i_exc.sum()

    assert torch.autograd.gradcheck(fn, (x, e0, alpha, beta), fast_mode=True)


@pytest.mark.parametrize("model", ["leaky", "synaptic"])
def test_broadcast_parameter_shapes(model: str) -> None:
    """Per-sample [B, 1] decay and per-neuron [N] threshold get gradients of their own shapes."""
    gen = torch.Generator().manual_seed(8)
    beta = _leaf(0.6 + 0.3 * torch.rand(B, 1, generator=gen, dtype=F64))
    thr = _leaf(0.8 + 0.4 * torch.rand(N, generator=gen, dtype=F64))
    params: dict[str, Any] = {"beta": beta, "threshold": thr, "graded": 1.0}
    if model == "synaptic":
        params["alpha"] = _leaf(0.3 + 0.5 * torch.rand(N, generator=gen, dtype=F64))
    x = _leaf(torch.randn(T, B, N, generator=gen, dtype=F64) + 0.3)
    state = _state(model, gen)
    opts = make_options("subtract", False, surrogate=surrogate.FastSigmoid())
    (o1, _, g1), (o2, _, g2) = _run_both(model, x, state, params, opts, False)
    assert torch.equal(o1, o2)
    for a, b in zip(g1, g2, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("model", ["synaptic", "alpha", "adaptive"])
def test_several_programs_and_a_partial_block(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neurons split over several programs (the GPU layout) give the same result as one program."""
    monkeypatch.setattr(triton_lif, "INTERPRET_BLOCK", 16)
    monkeypatch.setattr(triton_lif, "GPU_BLOCK", 16)
    gen = torch.Generator().manual_seed(13)
    b, n = 3, 13  # M = 39: programs of 16, 16 and 7 neurons
    x = _leaf(torch.randn(6, b, n, generator=gen, dtype=F64) + 0.4)
    thr = _leaf(0.6 + 0.4 * torch.rand(n, generator=gen, dtype=F64))
    zeros = [_leaf(torch.zeros(b, n, dtype=F64)) for _ in range(3)]
    if model == "synaptic":
        params: dict[str, Any] = {"alpha": 0.6, "beta": 0.8, "threshold": thr, "graded": 1.0}
        state: Any = SynapticState(*zeros[:2])
    elif model == "alpha":
        params = {"alpha": 0.9, "beta": 0.8, "threshold": thr, "graded": 1.0}
        state = AlphaState(*zeros)
    else:
        params = {"beta": 0.8, "rho": 0.9, "adaptation": 0.2, "threshold": thr, "graded": 1.0}
        state = AdaptiveState(*zeros)
    params = {k: torch.as_tensor(v, dtype=F64, device=DEVICE) if isinstance(v, float) else v
              for k, v in params.items()}
    (o1, s1, g1), (o2, s2, g2) = _run_both(model, x, state, params, make_options("subtract", True), True)
    assert torch.equal(o1, o2) and o1.sum() > 0
    for a, c in zip(s1, s2, strict=True):
        torch.testing.assert_close(c, a, rtol=1e-12, atol=1e-12)
    for a, c in zip(g1, g2, strict=True):
        if a is None:  # e.g. the initial membrane of the alpha neuron with a detached reset
            assert c is None or not c.any()
        else:
            torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-9)


def test_float32_spikes_equal_and_flips_reported() -> None:
    """float32: spikes equal except where |v - thr| < 1e-6 (counted, must be rare)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(40, 4, 48, generator=gen).to(DEVICE)
    opts = make_options("subtract", True)
    params = {"beta": torch.tensor(0.9, device=DEVICE), "threshold": torch.tensor(1.0, device=DEVICE), "graded": 1.0}
    state = LeakyState(torch.zeros(4, 48, device=DEVICE))
    o1, v1 = kernels.run("leaky", x, state, params, opts, record=True, backend="reference")
    o2, v2 = kernels.run("leaky", x, state, params, opts, record=True, backend="triton")
    flips = o1 != o2
    near = (v1.v - 1.0).abs() < 1e-6
    assert not (flips & ~near).any()
    assert flips.sum().item() == 0, f"{flips.sum().item()} spike flips, all within 1e-6 of threshold"
    torch.testing.assert_close(v2.v, v1.v, rtol=1e-5, atol=1e-6)


def test_float32_gradients_close() -> None:
    gen = torch.Generator().manual_seed(4)
    x = _leaf(torch.randn(30, 4, 32, generator=gen))
    beta = _leaf(torch.full((32,), 0.85))
    thr = _leaf(torch.tensor(1.0))
    opts = make_options("zero", False)
    grads = []
    for backend in ("reference", "triton"):
        params = {"beta": beta, "threshold": thr, "graded": 1.0}
        out, st = kernels.run("leaky", x, LeakyState(torch.zeros(4, 32, device=DEVICE)), params, opts,
                              backend=backend)
        grads.append(torch.autograd.grad(out.sum() + st.v.sum(), [x, beta, thr]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["leaky", "synaptic", "li"])
def test_gradcheck_membrane_reset_none(model: str) -> None:
    """float64 gradcheck of the membrane trace (reset none: smooth in every input)."""
    gen = torch.Generator().manual_seed(5)
    x = _leaf(torch.randn(4, 2, 3, generator=gen, dtype=F64))
    v0 = _leaf(torch.randn(2, 3, generator=gen, dtype=F64))
    beta = _leaf(torch.tensor([0.5, 0.7, 0.9], dtype=F64))
    alpha = _leaf(torch.tensor(0.6, dtype=F64))
    thr = torch.tensor(1.0, dtype=F64, device=DEVICE)
    opts = make_options("none", True)

    def fn(x, v0, beta, alpha):
        if model == "leaky":
            params = {"beta": beta, "threshold": thr, "graded": 1.0}
            return kernels.run(model, x, LeakyState(v0), params, opts, record=True, backend="triton")[1].v
        if model == "li":
            return kernels.run(model, x, LeakyState(v0), {"beta": beta}, None, record=True, backend="triton")[0]
        params = {"alpha": alpha, "beta": beta, "threshold": thr, "graded": 1.0}
        _, tr = kernels.run(model, x, SynapticState(v0 * 0.5, v0), params, opts, record=True, backend="triton")
        return tr.i.sum() + tr.v

    assert torch.autograd.gradcheck(fn, (x, v0, beta, alpha), fast_mode=True)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("delay", [True, False])
def test_gradcheck_spike_free_regime(reset: str, delay: bool) -> None:
    """With the threshold far away nothing fires: the membrane is smooth in x, beta and v0."""
    gen = torch.Generator().manual_seed(6)
    x = _leaf(0.1 * torch.randn(4, 2, 3, generator=gen, dtype=F64))
    v0 = _leaf(0.1 * torch.randn(2, 3, generator=gen, dtype=F64))
    beta = _leaf(torch.tensor(0.8, dtype=F64))
    opts = make_options(reset, delay, detach_reset=False, surrogate=surrogate.Triangular(width=1.0))

    def fn(x, v0, beta):
        params = {"beta": beta, "threshold": torch.tensor(50.0, dtype=F64, device=DEVICE), "graded": 1.0}
        out, tr = kernels.run("leaky", x, LeakyState(v0), params, opts, record=True, backend="triton")
        return tr.v + out

    assert torch.autograd.gradcheck(fn, (x, v0, beta), fast_mode=True)


def test_saved_memory_is_one_tensor_per_step() -> None:
    """The fused backward keeps ~1 float per neuron-step (u); the reference loop keeps several."""
    x = _leaf(torch.randn(30, 4, 16))
    opts = make_options("subtract", True)
    params = {"beta": torch.tensor(0.9), "threshold": torch.tensor(1.0), "graded": 1.0}
    sizes = {}
    for backend in ("reference", "triton"):
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor, seen: dict[int, int] = seen) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            kernels.run("leaky", x, LeakyState(torch.zeros(4, 16, device=DEVICE)), params, opts, backend=backend)
        sizes[backend] = sum(seen.values())
    assert sizes["triton"] <= x.numel() * 4 + 4 * 16 * 4 * 4
    assert sizes["triton"] < 0.6 * sizes["reference"]


def test_inference_without_grad_matches() -> None:
    """No gradient wanted: u is not stored, outputs and final state are unchanged."""
    gen = torch.Generator().manual_seed(9)
    x = (torch.randn(T, B, N, generator=gen) + 0.3).to(DEVICE)
    params = {"alpha": torch.tensor(0.6), "beta": torch.tensor(0.85), "threshold": torch.tensor(1.0), "graded": 1.0}
    state = SynapticState(torch.zeros(B, N, device=DEVICE), torch.zeros(B, N, device=DEVICE))
    opts = make_options("zero", False)
    with torch.no_grad():
        o1, s1 = kernels.run("synaptic", x, state, params, opts, backend="reference")
        o2, s2 = kernels.run("synaptic", x, state, params, opts, backend="triton")
    assert torch.equal(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls,kw", [(sf.Leaky, {"beta": 0.8, "learn_beta": True, "learn_threshold": True}),
                                    (sf.Synaptic, {"alpha": 0.7, "beta": 0.85, "reset": "zero"}),
                                    (sf.IF, {"reset_delay": False}),
                                    (sf.Alpha, {"alpha": 0.9, "beta": 0.8, "learn_alpha": True}),
                                    (sf.AdaptiveLeaky, {"beta": 0.9, "rho": 0.8, "learn_adaptation": True})])
def test_neuron_module_triton_equals_reference(cls: type, kw: dict[str, Any]) -> None:
    gen = torch.Generator().manual_seed(10)
    x = (torch.randn(10, 2, 6, generator=gen) + 0.4).to(DEVICE)
    results = []
    for backend in ("reference", "triton"):
        torch.manual_seed(0)
        lif = cls(**kw, backend=backend).to(DEVICE)
        xi = x.clone().requires_grad_()
        out, _ = lif(xi)
        out.sum().backward()
        results.append((out, xi.grad, [p.grad for p in lif.parameters()]))
    (o1, gx1, gp1), (o2, gx2, gp2) = results
    assert torch.equal(o1, o2) and o1.sum() > 0
    torch.testing.assert_close(gx2, gx1, rtol=1e-5, atol=1e-6)
    for a, b in zip(gp1, gp2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_supports_declines_what_it_does_not_fuse(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.zeros(2, 1, 3, device=DEVICE)
    assert triton_lif.supports("leaky", x, make_options())
    assert kernels.resolve("auto", "leaky", x, make_options()) == "triton"
    assert triton_lif.supports("alpha", x, make_options())
    assert triton_lif.supports("adaptive", x, make_options())
    assert not triton_lif.supports("rleaky", x, make_options())
    assert not triton_lif.supports("leaky", x, make_options(inhibition=True))
    assert not triton_lif.supports("leaky", x.to(torch.bfloat16), make_options())
    with pytest.raises(ValueError, match="triton"):
        kernels.resolve("triton", "rleaky", x, make_options())
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert not triton_lif.supports("leaky", torch.zeros(2, 1, 3), make_options())  # CPU needs the interpreter


def test_import_spikeflow_does_not_import_triton() -> None:
    code = "import sys, spikeflow, spikeflow.kernels; assert 'triton' not in sys.modules, 'triton imported'"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


_AOT = r"""
import os, sys
os.environ.pop("TRITON_INTERPRET", None)
try:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
except ImportError as err:
    print("AOT-API-MISSING", err)
    sys.exit(0)
from spikeflow.kernels import _triton_kernels as K

lif = dict(RESET=1, DELAYED=True, CLEARS_INPUT=True, SECOND=True)
cases = [
    (K.lif_forward, dict(lif, SAVE_S=True, SAVE_U=True, SAVE_I=True, KEEP_V=False)),
    (K.lif_forward, dict(RESET=2, DELAYED=False, CLEARS_INPUT=False, SECOND=False, SAVE_S=True, SAVE_U=False,
                         SAVE_I=False, KEEP_V=True)),
    (K.lif_backward, dict(lif, DETACH=False, HAS_GS=True, HAS_VTR=True, HAS_ITR=True, HAS_SG=True, SG_ATAN=True)),
    (K.lif_backward, dict(RESET=2, DELAYED=False, CLEARS_INPUT=False, SECOND=False, DETACH=True, HAS_GS=True,
                          HAS_VTR=False, HAS_ITR=False, HAS_SG=True, SG_ATAN=False)),
    (K.alpha_forward, dict(RESET=1, SAVE_S=True, SAVE_TR=True)),
    (K.alpha_backward, dict(RESET=2, DETACH=False, HAS_GS=True, HAS_TR=True, HAS_SG=True, SG_ATAN=False)),
    (K.adaptive_forward, dict(RESET=1, DELAYED=False, SAVE_S=True, SAVE_UA=True, KEEP_V=True)),
    (K.adaptive_backward, dict(RESET=2, DELAYED=True, DETACH=False, HAS_GS=True, HAS_VTR=True, HAS_ATR=True,
                               SG_ATAN=True)),
]
for dtype in ("fp32", "fp64"):
    for fn, flags in cases:
        flags = dict(flags, BLOCK=128)
        sig = {n: "constexpr" if n in flags else ("i64" if n == "LAST_ROW" else "i32") if n in ("T", "M", "LAST_ROW")
               else "*" + dtype for n in fn.arg_names}
        kernel = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=flags), target=GPUTarget("cuda", 90, 32),
                                options={"num_warps": 4, "enable_fp_fusion": False})
        assert "fma.rn" not in kernel.asm["ptx"], "fused multiply-add would break bit-exactness"
print("AOT-OK")
"""


def test_kernels_compile_for_the_gpu(tmp_path) -> None:
    """Without a GPU: the kernels compile for sm_90 (the interpreter does not catch GPU-only compile errors)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", _AOT], env=env, timeout=300, capture_output=True, text=True)
    if "AOT-API-MISSING" in done.stdout:
        pytest.skip(f"this triton has no ahead-of-time compile API: {done.stdout.strip()}")
    if done.returncode != 0 and ("ptxas" in done.stderr and "not found" in done.stderr.lower()):
        pytest.skip("ptxas is not available")
    assert done.returncode == 0 and "AOT-OK" in done.stdout, done.stderr[-3000:]


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("model", ["leaky", "synaptic"])
def test_cuda_larger_layer_matches_reference(model: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(11)
    t, b, n = 100, 16, 300  # several programs, a partial last block
    x = (torch.randn(t, b, n, generator=gen, dtype=dtype) + 0.2).cuda().requires_grad_()
    beta = torch.full((n,), 0.9, dtype=dtype, device="cuda", requires_grad=True)
    thr = torch.tensor(1.0, dtype=dtype, device="cuda", requires_grad=True)
    params: dict[str, Any] = {"beta": beta, "threshold": thr, "graded": 1.0}
    if model == "synaptic":
        params["alpha"] = torch.tensor(0.5, dtype=dtype, device="cuda")
        state: Any = SynapticState(torch.zeros(b, n, dtype=dtype, device="cuda"),
                                   torch.zeros(b, n, dtype=dtype, device="cuda"))
    else:
        state = LeakyState(torch.zeros(b, n, dtype=dtype, device="cuda"))
    opts = make_options("subtract", True)
    res = []
    for backend in ("reference", "triton"):
        out, tr = kernels.run(model, x, state, params, opts, record=True, backend=backend)
        res.append((out, tr.v, torch.autograd.grad(out.sum() + tr.v.pow(2).sum(), [x, beta, thr])))
    (o1, v1, g1), (o2, v2, g2) = res
    flips = o1 != o2
    assert not (flips & ((v1 - 1.0).abs() >= 1e-6)).any()
    torch.testing.assert_close(v2, v1, rtol=1e-5, atol=1e-5)
    if not flips.any():
        for a, b_ in zip(g1, g2, strict=True):
            torch.testing.assert_close(b_, a, rtol=1e-4, atol=1e-4)
