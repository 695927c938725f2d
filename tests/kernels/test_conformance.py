"""Every kernel of the registry against the reference, generated from the registry.

Cases: KERNELS x (the models each kernel declares) x option grid x dtype. A kernel is run
on a case only where it accepts it (no reasons); the reference is the oracle: spikes equal,
states (final and recorded traces) to 1e-12 in float64, gradients of x, every state field
and every learnable parameter to 1e-5; float64 gradcheck in the spike-free regime. A newly
registered model or kernel is picked up without a new test file.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from surrogate_cases import SURROGATES  # noqa: E402

from spikeflow import kernels, surrogate
from spikeflow.dynamics import MODELS, make_options
from spikeflow.kernels.call import KernelCall
from spikeflow.kernels.registry import KERNELS, Reference

T, B, N = 12, 3, 5
# (model, parameter) or parameter -> (low, high) of the random draw; decays default to (0.3, 0.95)
PARAM_RANGES: dict[Any, tuple[float, float]] = {
    "threshold": (0.8, 1.2), "graded": (0.7, 0.7), "gain": (1.3, 1.3), "adaptation": (0.1, 0.3),
    ("alpha", "alpha"): (0.85, 0.95), ("alpha", "beta"): (0.5, 0.8),
    ("resonate", "dt"): (0.3, 0.3), ("resonate", "omega"): (1.0, 2.5), ("resonate", "b_offset"): (0.0, 0.3),
    ("resonate", "gamma"): (0.5, 0.5),
}
RESETS = ["subtract", "zero", "none"]


def _kernel_models(k: Any) -> list[str]:
    return sorted(m for m in k.models() if m in MODELS)


def _grid(k: Any) -> list[tuple[Any, ...]]:
    """The option grid of kernel k; winner-take-all on every other case where k runs both."""
    full = not k.BACKEND == "triton"  # the interpreted Triton kernels are slow: a diagonal of the grid
    cases = []
    for model in _kernel_models(k):
        spiking = MODELS[model].spiking
        combos = itertools.product(RESETS, [True, False], [None, "flip"], [False, True]) if spiking else [
            ("none", True, None, False), ("none", True, None, True)]
        for i, (reset, delay, detach, per_neuron) in enumerate(combos):
            wta = bool(k.INHIBITION) or (k.INHIBITION is None and spiking and i % 2 == 1)
            if full or i % 4 == 0:
                cases.append((k.NAME, model, reset, delay, detach, per_neuron, wta))
    return cases


CASES = [c for k in KERNELS if not isinstance(k, Reference) for c in _grid(k)]
_BY_NAME = {k.NAME: k for k in KERNELS}


def _draw(model: str, name: str, per_neuron: bool, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    lo, hi = PARAM_RANGES.get((model, name), PARAM_RANGES.get(name, (0.3, 0.95)))
    shape = (N,) if per_neuron and name != "graded" else ()
    v = lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=dtype)
    return v.requires_grad_(per_neuron or name in ("threshold", "graded"))


def make_case(model: str, per_neuron: bool, seed: int, dtype: torch.dtype = torch.float64, t: int = T,
              scale: float = 0.9) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor]]:
    spec = MODELS[model]
    gen = torch.Generator().manual_seed(seed)
    params = {p: _draw(model, p, per_neuron, gen, dtype) for p in spec.params}
    fields = []
    for f in spec.fields:
        if f == spec.spike_field:
            fields.append((torch.rand(B, N, generator=gen) < 0.3).to(dtype).requires_grad_())
        else:
            fields.append((0.5 * torch.randn(B, N, generator=gen, dtype=dtype)).requires_grad_())
    x = (scale * torch.randn(t, B, N, generator=gen, dtype=dtype) + 0.3).requires_grad_()
    return x, spec.state(*fields), params


def _run(backend: Any, model: str, x: torch.Tensor, state: Any, params: dict[str, Any], opts: Any, record: bool):
    call = KernelCall(model, x, state, params, opts, record)
    out, st = backend.run(call)
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * w).sum() + sum((f * f).sum() for f in st)
    leaves = [x, *state, *(p for p in params.values() if p.requires_grad)]
    return out, st, torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.fixture(autouse=True)
def _triton_interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CUDA the Triton kernels run in the interpreter on CPU tensors."""
    if not torch.cuda.is_available():
        monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.fixture(params=["one chunk", "tiny chunks"])
def chunking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "tiny chunks":  # a checkpoint every step or two: every chunk boundary runs
        from spikeflow.kernels.numba import driver

        monkeypatch.setattr(driver, "CHUNK_ELEMS", 64 * 7)
    return request.param


@pytest.mark.parametrize("kernel,model,reset,delay,detach,per_neuron,wta", CASES)
def test_kernel_matches_reference(kernel: str, model: str, reset: str, delay: bool, detach: Any, per_neuron: bool,
                                  wta: bool, chunking: str) -> None:
    k = _BY_NAME[kernel]
    idx = CASES.index((kernel, model, reset, delay, detach, per_neuron, wta))
    if chunking == "tiny chunks" and (k.BACKEND != "cpu" or idx % 3):
        pytest.skip("tiny chunks: a third of the cpu cases")
    opts = make_options(reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)],
                        inhibition=wta)
    x, state, params = make_case(model, per_neuron, idx)
    call = KernelCall(model, x, state, params, opts)
    reasons = k.not_supported_reasons(call)
    if reasons:
        pytest.skip("; ".join(reasons))
    for record in (False, True):
        o1, s1, g1 = _run(Reference(), model, x, state, params, opts, record)
        o2, s2, g2 = _run(k, model, x, state, params, opts, record)
        if MODELS[model].spiking:
            assert o1.sum() > 0, "test input must make the neuron fire"
            assert torch.equal(o1, o2)
        else:
            torch.testing.assert_close(o2, o1, rtol=1e-12, atol=1e-12)
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            if a is None or b is None:  # unused on one side: the other must be exactly zero
                assert all(g is None or not g.any() for g in (a, b))
            else:
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


FLOAT32 = [(k.NAME, m) for k in KERNELS if not isinstance(k, Reference) and not k.INHIBITION
           for m in _kernel_models(k) if MODELS[m].spiking]


@pytest.mark.parametrize("kernel,model", FLOAT32)
def test_float32_spikes_equal_and_gradients_close(kernel: str, model: str) -> None:
    k = _BY_NAME[kernel]
    x, state, params = make_case(model, True, 3, torch.float32, t=40, scale=1.0)
    opts = make_options("subtract", True)
    if k.not_supported_reasons(KernelCall(model, x, state, params, opts)):
        pytest.skip("kernel refuses float32 here")
    o1, s1, g1 = _run(Reference(), model, x, state, params, opts, True)
    o2, s2, g2 = _run(k, model, x, state, params, opts, True)
    assert int((o1 != o2).sum()) == 0
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2, strict=True):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)


GRADCHECK = [(k.NAME, m, r) for k in KERNELS if not isinstance(k, Reference) and k.BACKEND == "cpu"
             and not k.INHIBITION for m in _kernel_models(k) for r in (RESETS if MODELS[m].spiking else ["none"])]


@pytest.mark.parametrize("kernel,model,reset", GRADCHECK)
def test_float64_gradcheck_spike_free(kernel: str, model: str, reset: str) -> None:
    """Far below threshold the dynamics are smooth: the fused backward is the exact gradient."""
    k = _BY_NAME[kernel]
    x, state, params = make_case(model, True, 11, t=4, scale=0.2)
    if "threshold" in params:
        params["threshold"] = torch.full((N,), 50.0, dtype=torch.float64, requires_grad=True)
    # detached reset and a surrogate that is 0 far from threshold: the true derivative (spike-free)
    opts = make_options(reset, True, True, surrogate.Triangular(width=0.7))
    if reasons := k.not_supported_reasons(KernelCall(model, x, state, params, opts)):
        pytest.skip("; ".join(reasons))
    names = [p for p, v in params.items() if v.requires_grad and p != "graded"]

    def fn(x: torch.Tensor, *leaves: torch.Tensor) -> tuple[torch.Tensor, ...]:
        st = type(state)(*leaves[: len(state)])
        ps = {**params, **dict(zip(names, leaves[len(state):], strict=True))}
        out, tr = k.run(KernelCall(model, x, st, ps, opts, True))
        return tuple(tr)  # the state traces (the spikes' surrogate gradient is not their derivative)

    spike = MODELS[model].spike_field  # the detached reset reads it: its true derivative is not the kernel's
    inputs = (x, *(f.detach().clone().requires_grad_(n != spike) for f, n in zip(state, state._fields, strict=True)),
              *(params[n] for n in names))
    assert torch.autograd.gradcheck(fn, inputs)


def test_double_backward_is_routed_not_a_crash() -> None:
    """create_graph=True through the fused cpu kernel: second derivatives match the reference."""
    x, state, params = make_case("leaky", True, 5)
    opts = make_options("subtract", False, False)
    res = []
    for backend in ("reference", "cpu"):
        out, st = kernels.run("leaky", x, state, params, opts, backend=backend)
        (gx,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum()
                                    + (st.v ** 2).sum(), x, create_graph=True)
        (hx,) = torch.autograd.grad((gx ** 2).sum(), x)
        res.append((gx, hx))
    for a, b in zip(*res, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-9)


def test_explicit_backend_lists_every_reason() -> None:
    x = torch.zeros(2, 1, 3, dtype=torch.bfloat16)
    with pytest.raises(kernels.NoKernelError) as err:
        kernels.run("leaky", x, MODELS["leaky"].state(x[0]), {"beta": 0.9, "threshold": 1.0, "graded": 1.0},
                    make_options(), backend="cpu")
    msg = str(err.value)
    assert "numba_scan" in msg and "dtype torch.bfloat16" in msg and "numba_recurrent" in msg


@pytest.mark.parametrize("model,kw", [("leaky", {"inhibition": True}), ("rleaky", {})])
def test_double_backward_of_driver_variants_is_routed_to_the_reference(model: str, kw: dict[str, Any]) -> None:
    """Winner-take-all and recurrent kernels have no differentiable backward: the registry routes
    create_graph=True to the reference; a plain backward still runs the fused kernel's."""
    x, state, params = make_case(model, False, 6)
    if model == "rleaky":
        params.update(weight=None, bias=None, v_scale=torch.tensor(0.5, dtype=torch.float64, requires_grad=True))
    opts = make_options("subtract", True, **kw)
    assert kernels.resolve("auto", model, x, opts) == "cpu"
    res = []
    for backend in ("reference", "cpu"):
        out, st = kernels.run(model, x, state, params, opts, backend=backend)
        (gx,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum()
                                    + (st.v ** 2).sum(), x, create_graph=True)
        (hx,) = torch.autograd.grad((gx ** 2).sum(), x)
        res.append((gx, hx))
    for a, b in zip(*res, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-9)
