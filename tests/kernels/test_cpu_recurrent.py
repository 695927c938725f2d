"""The fused ``cpu`` kernels of RLeaky / RSynaptic reproduce ``reference``: outputs, states, every gradient."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

import spikeflow as sf
from spikeflow import kernels, surrogate
from spikeflow.functional import make_options
from spikeflow.functional.states import RLeakyState, RSynapticState

pytest.importorskip("numba")

T, B, N = 10, 3, 5
F64 = torch.float64


from surrogate_cases import SURROGATES  # noqa: E402

CASES = list(
    itertools.product(
        ["rleaky", "rsynaptic"], ["one", "all"], ["subtract", "zero", "none"], [True, False], [None, "flip"],
        [False, True],
    )
)


def _params(model: str, kind: str, per_neuron: bool, graded: int, gen: torch.Generator) -> dict[str, Any]:
    shape = (N,) if per_neuron else ()

    def rnd(lo: float, hi: float, shape: tuple[int, ...] = shape) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=F64)).requires_grad_()

    g: Any = [torch.tensor(1.0, dtype=F64), rnd(0.5, 0.9, ()), rnd(0.5, 0.9, (N,))][graded]
    p: dict[str, Any] = {"beta": rnd(0.5, 0.95), "threshold": rnd(0.8, 1.2), "graded": g}
    if model == "rsynaptic":  # a fixed alpha: the current trace is then not kept for the backward
        p["alpha"] = rnd(0.3, 0.9).detach().requires_grad_(per_neuron)
    if kind == "all":
        p["weight"] = (0.4 * torch.randn(N, N, generator=gen, dtype=F64)).requires_grad_()
        p["bias"] = (0.1 * torch.randn(N, generator=gen, dtype=F64)).requires_grad_()
        p["v_scale"] = None
    else:
        p.update(weight=None, bias=None, v_scale=rnd(-0.6, 0.6))
    return p


def _state(model: str, gen: torch.Generator, dtype: torch.dtype = F64) -> Any:
    fields = [(0.5 * torch.randn(B, N, generator=gen, dtype=dtype)).requires_grad_() for _ in range(3)]
    fields[0] = (torch.rand(B, N, generator=gen, dtype=dtype) < 0.3).to(dtype).requires_grad_()  # a spike
    return RSynapticState(*fields) if model == "rsynaptic" else RLeakyState(fields[0], fields[1])


def _run(backend: str, model: str, x: torch.Tensor, state: Any, params: dict[str, Any], opts: Any, record: bool):
    out, st = kernels.run(model, x, state, params, opts, record=record, backend=backend)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * weights).sum() + sum((f * f).sum() for f in st)
    leaves = [x, *state, *(p for p in params.values() if isinstance(p, torch.Tensor) and p.requires_grad)]
    return out, st, torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("model,kind,reset,delay,detach,per_neuron", CASES)
def test_cpu_recurrent_matches_reference(
    model: str, kind: str, reset: str, delay: bool, detach: Any, per_neuron: bool
) -> None:
    idx = CASES.index((model, kind, reset, delay, detach, per_neuron))
    gen = torch.Generator().manual_seed(idx)
    opts = make_options(reset, delay, None if detach is None else (not delay), SURROGATES[idx % len(SURROGATES)])
    params = _params(model, kind, per_neuron, (idx // 6) % 3, gen)  # graded: not tied to the surrogate
    x = (0.9 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.3).requires_grad_()
    state = _state(model, gen)
    for record in (False, True):
        o1, s1, g1 = _run("reference", model, x, state, params, opts, record)
        o2, s2, g2 = _run("cpu", model, x, state, params, opts, record)
        assert 0 < (o1 != 0).sum() < o1.numel(), "test input must make some neurons fire, not all"
        flips = int((o1 != o2).sum())
        assert flips == 0, f"{flips} spike flips in float64"
        for a, b in zip(s1, s2, strict=True):  # the same operations in the same order
            assert torch.equal(a, b)
        for a, b in zip(g1, g2, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("kind", ["one", "all"])
def test_float32_spikes_membranes_and_gradients(kind: str) -> None:
    """float32 on a bigger layer: spikes and membranes equal bit for bit, gradients close."""
    gen = torch.Generator().manual_seed(11)
    n = 48
    x = (0.6 * torch.randn(40, 4, n, generator=gen) + 0.15).requires_grad_()
    beta = torch.full((n,), 0.9, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    rec: dict[str, Any] = {"weight": None, "bias": None, "v_scale": torch.full((n,), 0.3, requires_grad=True)}
    if kind == "all":
        rec = {"weight": (0.5 * torch.randn(n, n, generator=gen) / n**0.5).requires_grad_(),
               "bias": torch.zeros(n, requires_grad=True), "v_scale": None}
    params = {"beta": beta, "threshold": thr, "graded": torch.tensor(1.0), **rec}
    leaves = [x, beta, thr, *(p for p in rec.values() if p is not None)]
    opts = make_options("subtract", True)
    state = RLeakyState(torch.zeros(4, n), torch.zeros(4, n))
    res = []
    for backend in ("reference", "cpu"):
        out, tr = kernels.run("rleaky", x, state, params, opts, record=True, backend=backend)
        res.append((out, tr, torch.autograd.grad(out.sum() + tr.v.pow(2).sum(), leaves)))
    (o1, t1, g1), (o2, t2, g2) = res
    assert 0 < o1.mean() < 0.5
    # the same float32 operations in the same order (the all-to-all product is F.linear in both)
    assert torch.equal(o1, o2), f"{int((o1 != o2).sum())} spike flips"
    assert torch.equal(t1.v, t2.v)
    for a, b in zip(g1, g2, strict=True):  # sums over T x B in float32: relative to the largest entry
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * float(a.abs().max()))


@pytest.mark.parametrize("model", ["rleaky", "rsynaptic"])
@pytest.mark.parametrize("kind", ["one", "all"])
@pytest.mark.parametrize("reset,delay", [("subtract", True), ("zero", False)])
def test_gradcheck_spike_free_regime(model: str, kind: str, reset: str, delay: bool) -> None:
    """Threshold out of reach (and a surrogate that is 0 there): every output is smooth, so the
    hand-written backward must equal finite differences wrt x, the initial state and the params."""
    gen = torch.Generator().manual_seed(5)
    tt, bb, nn_ = 4, 2, 3
    opts = make_options(reset, delay, detach_reset=False, surrogate=surrogate.Triangular(width=1.0))

    def r(*shape: int, scale: float = 0.3) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=gen, dtype=F64)).requires_grad_()

    x, s0, i0, v0 = r(tt, bb, nn_), r(bb, nn_), r(bb, nn_), r(bb, nn_)
    beta = torch.tensor([0.5, 0.7, 0.9], dtype=F64, requires_grad=True)
    alpha = torch.tensor(0.6, dtype=F64, requires_grad=True)
    w, b, vs = r(nn_, nn_), r(nn_), r(nn_)
    thr = torch.tensor(50.0, dtype=F64)

    def fn(x, s0, i0, v0, beta, alpha, w, b, vs):
        rec = {"weight": w, "bias": b, "v_scale": None} if kind == "all" else {"weight": None, "bias": None,
                                                                               "v_scale": vs}
        params = {"beta": beta, "threshold": thr, "graded": 1.0, **rec}
        if model == "rsynaptic":
            _, tr = kernels.run(model, x, RSynapticState(s0, i0, v0), {**params, "alpha": alpha}, opts,
                                record=True, backend="cpu")
            return tr.v, tr.i
        _, tr = kernels.run(model, x, RLeakyState(s0, v0), params, opts, record=True, backend="cpu")
        return (tr.v,)

    assert torch.autograd.gradcheck(fn, (x, s0, i0, v0, beta, alpha, w, b, vs))


@pytest.mark.parametrize("cls", [sf.RLeaky, sf.RSynaptic])
@pytest.mark.parametrize("all_to_all", [True, False])
def test_module_cpu_backend_equals_reference(cls: type, all_to_all: bool) -> None:
    torch.manual_seed(2)
    n = 8
    decays = {"beta": torch.full((n,), 0.85)} if cls is sf.RLeaky else {"alpha": 0.7, "beta": torch.full((n,), 0.85)}
    kw: dict[str, Any] = dict(
        V=torch.full((n,), 0.4), all_to_all=all_to_all, linear_features=n if all_to_all else None,
        learn_beta=True, learn_threshold=True, reset_delay=False, **decays,
    )
    ref = cls(backend="reference", **kw).double()
    fused = cls(backend="cpu", **kw).double()
    fused.load_state_dict(ref.state_dict())
    x = (torch.randn(12, 3, n, dtype=F64) + 0.4).requires_grad_()
    results = []
    for mod in (ref, fused):
        out, state = mod(x)
        loss = out.sum() + state.v.pow(2).sum()
        params = [p for _, p in sorted(mod.named_parameters())]
        results.append((out, state, torch.autograd.grad(loss, [x, *params])))
    (o1, s1, g1), (o2, s2, g2) = results
    assert o1.sum() > 0
    assert torch.equal(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-7, atol=1e-10)


def test_all_to_all_with_extra_batch_dims() -> None:
    """Leading dims of [T, B, C, N] act as batch for the all-to-all feedback, as in nn.Linear."""
    gen = torch.Generator().manual_seed(8)
    x = (torch.randn(6, 2, 3, 4, generator=gen, dtype=F64) + 0.5).requires_grad_()
    w = (0.5 * torch.randn(4, 4, generator=gen, dtype=F64)).requires_grad_()
    params = {"beta": 0.8, "threshold": 1.0, "graded": 1.0, "weight": w, "bias": None, "v_scale": None}
    state = RLeakyState(torch.zeros(2, 3, 4, dtype=F64), torch.zeros(2, 3, 4, dtype=F64))
    opts = make_options()
    res = []
    for backend in ("reference", "cpu"):
        out, st = kernels.run("rleaky", x, state, params, opts, backend=backend)
        res.append((out, st.v, torch.autograd.grad(out.sum() + st.v.sum(), [x, w])))
    assert res[0][0].sum() > 0
    assert torch.equal(res[0][0], res[1][0])
    torch.testing.assert_close(res[1][1], res[0][1], rtol=1e-12, atol=1e-12)
    for a, b in zip(res[0][2], res[1][2], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-7, atol=1e-10)


def test_declines_winner_take_all_and_says_why() -> None:
    from spikeflow.kernels.registry import NumbaRecurrent

    x = torch.zeros(2, 1, 3)
    k = NumbaRecurrent()
    assert not k.not_supported_reasons(kernels.KernelCall("rleaky", x, (), {}, make_options()))
    assert "inhibition" in " ".join(k.not_supported_reasons(kernels.KernelCall("rleaky", x, (), {},
                                                                              make_options(inhibition=True))))
    assert k.not_supported_reasons(kernels.KernelCall("leaky", x, (), {}, make_options()))


def test_unfusable_call_is_a_reason_not_a_silent_fallback() -> None:
    """A float32 weight with float64 input: auto says reference, explicit cpu raises with the reason."""
    x = torch.zeros(3, 2, 4, dtype=F64)
    params = {"beta": 0.9, "threshold": 1.0, "graded": 1.0, "weight": torch.zeros(4, 4), "bias": None,
              "v_scale": None}
    state = RLeakyState(torch.zeros(2, 4, dtype=F64), torch.zeros(2, 4, dtype=F64))
    call = kernels.KernelCall("rleaky", x, state, params, make_options())
    assert kernels.select(call, "auto").BACKEND == "reference"
    with pytest.raises(kernels.NoKernelError, match="weight must be"):
        kernels.run("rleaky", x, state, params, make_options(), backend="cpu")


@pytest.mark.parametrize("kind", ["one", "all"])
def test_saves_one_membrane_per_step(kind: str) -> None:
    """The fused backward keeps the membrane trace u (one float per neuron-step) and O(B x N) tensors."""
    tt, bb, n = 50, 4, 16
    x = torch.randn(tt, bb, n, requires_grad=True)
    w = torch.randn(n, n, requires_grad=True)
    rec = {"weight": w, "bias": None, "v_scale": None} if kind == "all" else {
        "weight": None, "bias": None, "v_scale": torch.tensor(0.5, requires_grad=True)}
    params = {"beta": torch.tensor(0.9), "threshold": torch.tensor(1.0), "graded": torch.tensor(1.0), **rec}
    sizes = {}
    for backend in ("reference", "cpu"):
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor, seen: dict[int, int] = seen) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            kernels.run("rleaky", x, RLeakyState(torch.zeros(bb, n), torch.zeros(bb, n)), params, make_options(),
                        backend=backend)
        sizes[backend] = sum(seen.values())
    assert sizes["cpu"] <= x.numel() * 4 + n * n * 4 + 16 * bb * n * 4
    assert sizes["cpu"] < 0.5 * sizes["reference"]


@pytest.mark.parametrize("model", ["rleaky", "rsynaptic"])
@pytest.mark.parametrize("kind", ["one", "all"])
def test_gradient_of_final_state_only(model: str, kind: str) -> None:
    """A loss on the final membrane alone (no gradient reaches the output spikes directly)."""
    gen = torch.Generator().manual_seed(9)
    opts = make_options("zero", True)
    params = _params(model, kind, True, 1, gen)
    x = (0.9 * torch.randn(T, B, N, generator=gen, dtype=F64) + 0.3).requires_grad_()
    state = _state(model, gen)
    leaves = [x, *state, *(p for p in params.values() if isinstance(p, torch.Tensor) and p.requires_grad)]
    grads = []
    for backend in ("reference", "cpu"):
        _, st = kernels.run(model, x, state, params, opts, backend=backend)
        grads.append(torch.autograd.grad(st.v.pow(2).sum(), leaves, allow_unused=True))
    for a, b in zip(*grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)
