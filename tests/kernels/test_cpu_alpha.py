"""The fused ``cpu`` alpha kernel reproduces ``reference``: spikes, currents, membranes and
every gradient (x, the initial state, alpha, beta, threshold, graded)."""

from __future__ import annotations

import itertools

import pytest
import torch

import spikeflow as sf
from spikeflow import kernels, surrogate
from spikeflow.functional import make_options
from spikeflow.functional.states import AlphaState

pytest.importorskip("numba")
from spikeflow.kernels import _cpu_util  # noqa: E402

T, B, N = 12, 3, 5


from surrogate_cases import SURROGATES  # noqa: E402

CASES = list(itertools.product(["subtract", "zero", "none"], [True, False], [False, True]))


def _params(per_neuron: bool, graded: bool, gen: torch.Generator, dtype: torch.dtype = torch.float64) -> dict:
    shape = (N,) if per_neuron else ()

    def rand(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=dtype)).requires_grad_()

    g = torch.tensor(0.7, dtype=dtype, requires_grad=True) if graded else torch.tensor(1.0, dtype=dtype)
    return {"alpha": rand(0.8, 0.95), "beta": rand(0.4, 0.7), "threshold": rand(0.8, 1.2), "graded": g}


def _state(gen: torch.Generator, dtype: torch.dtype = torch.float64) -> AlphaState:
    return AlphaState(*((0.5 * torch.randn(B, N, generator=gen, dtype=dtype)).requires_grad_() for _ in range(3)))


def _run(backend: str, x, state, params, opts, record: bool, spikes_in_loss: bool = True):
    out, st = kernels.run("alpha", x, state, params, opts, record=record, backend=backend)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = sum((f * f).sum() for f in st)
    if spikes_in_loss:  # else the backward gets no spike gradient at all
        loss = loss + (out * weights).sum()
    leaves = [x, *state, *(p for p in params.values() if p.requires_grad)]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    # reference leaves a leaf unused where it has no influence (e.g. v0 with a detached reset)
    return out, st, [torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, leaves, strict=True)]


def _compare(x, state, params, opts, record: bool, spikes_in_loss: bool = True) -> None:
    o1, s1, g1 = _run("reference", x, state, params, opts, record, spikes_in_loss)
    o2, s2, g2 = _run("cpu", x, state, params, opts, record, spikes_in_loss)
    assert o1.sum() > 0, "test input must make the neuron fire"
    assert torch.equal(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("reset,detach,per_neuron", CASES)
def test_alpha_matches_reference(reset: str, detach: bool, per_neuron: bool) -> None:
    idx = CASES.index((reset, detach, per_neuron))
    gen = torch.Generator().manual_seed(idx)
    opts = make_options(reset, True, detach, SURROGATES[idx % len(SURROGATES)])
    params = _params(per_neuron, graded=bool(idx % 2), gen=gen)
    x = (2.0 * torch.randn(T, B, N, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    state = _state(gen)
    for record, spikes_in_loss in itertools.product((False, True), (True, False)):
        _compare(x, state, params, opts, record, spikes_in_loss)


@pytest.mark.parametrize("reset,detach", [("subtract", False), ("zero", True), ("zero", False)])
@pytest.mark.parametrize("chunk_steps", [1, 5])
def test_alpha_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, reset: str, detach: bool, chunk_steps: int) -> None:
    """The backward walks cache-sized chunks of steps (recomputed from checkpoints without
    ``record``); tiny chunks put a boundary at every kind of step."""
    gen = torch.Generator().manual_seed(50 + chunk_steps)
    monkeypatch.setattr(_cpu_util, "CHUNK_ELEMS", chunk_steps * B * N)
    opts = make_options(reset, True, detach, surrogate.ATan())
    params = _params(True, graded=True, gen=gen)
    x = (2.0 * torch.randn(T, B, N, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    state = _state(gen)
    for record, spikes_in_loss in itertools.product((False, True), (True, False)):
        _compare(x, state, params, opts, record, spikes_in_loss)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("chunk_steps", [1, 5, 100])
def test_alpha_input_only_gradients(monkeypatch: pytest.MonkeyPatch, reset: str, chunk_steps: int) -> None:
    """The common training case (fixed parameters, detached reset, no trace) takes a lighter
    backward that never forms the currents; x and initial-state gradients still match."""
    gen = torch.Generator().manual_seed(70 + chunk_steps)
    monkeypatch.setattr(_cpu_util, "CHUNK_ELEMS", chunk_steps * B * N)
    opts = make_options(reset, True, None, SURROGATES[chunk_steps % len(SURROGATES)])
    params = {k: v.detach() for k, v in _params(chunk_steps != 5, graded=False, gen=gen).items()}
    x = (2.0 * torch.randn(T, B, N, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    state = _state(gen)
    for spikes_in_loss in (True, False):
        _compare(x, state, params, opts, False, spikes_in_loss)


def test_alpha_broadcast_params_and_features() -> None:
    """Parameters of shape [C, 1] over features [C, W], and per-sample initial state."""
    gen = torch.Generator().manual_seed(9)
    opts = make_options("subtract", True, False, surrogate.Sigmoid(slope=4.0))
    params = {
        "alpha": (0.85 + 0.1 * torch.rand(2, 1, generator=gen, dtype=torch.float64)).requires_grad_(),
        "beta": torch.tensor(0.6, dtype=torch.float64, requires_grad=True),
        "threshold": (0.9 + 0.2 * torch.rand(2, 1, generator=gen, dtype=torch.float64)).requires_grad_(),
        "graded": torch.tensor(1.0, dtype=torch.float64),
    }
    x = (2.0 * torch.randn(8, 2, 2, 3, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    state = AlphaState(*((0.3 * torch.randn(2, 2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
                         for _ in range(3)))
    for record, spikes_in_loss in itertools.product((False, True), (True, False)):
        _compare(x, state, params, opts, record, spikes_in_loss)


def test_alpha_float32_spikes_equal_and_flips_reported() -> None:
    """float32: spikes equal except where |v - thr| < 1e-6 (counted), state and gradients close."""
    gen = torch.Generator().manual_seed(3)
    x = (2.0 * torch.randn(60, 4, 32, generator=gen) + 0.5).requires_grad_()
    opts = make_options("zero", True, None, surrogate.ATan())
    alpha = torch.full((32,), 0.9, requires_grad=True)
    beta = torch.tensor(0.6, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    results = []
    for backend in ("reference", "cpu"):
        params = {"alpha": alpha, "beta": beta, "threshold": thr, "graded": 1.0}
        state = AlphaState(*(torch.zeros(4, 32) for _ in range(3)))
        out, tr = kernels.run("alpha", x, state, params, opts, record=True, backend=backend)
        grads = torch.autograd.grad(out.sum() + tr.v[-1].square().sum(), [x, alpha, beta, thr])
        results.append((out, tr, grads))
    (o1, t1, g1), (o2, t2, g2) = results
    assert o1.sum() > 0
    flips = o1 != o2
    near = (t1.v - 1.0).abs() < 1e-6
    assert not (flips & ~near).any()
    assert flips.sum().item() == 0, f"{flips.sum().item()} spike flips, all within 1e-6 of threshold"
    for a, b in zip(t1, t2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_alpha_gradcheck_reset_none() -> None:
    """float64 gradcheck of every state trace (reset none: smooth in x, alpha, beta and the state)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    e0, h0 = (torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(2))
    alpha = torch.tensor([0.8, 0.85, 0.9], dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    opts = make_options("none", True)

    def fn(x, e0, h0, alpha, beta):
        params = {"alpha": alpha, "beta": beta, "threshold": torch.tensor(1.0, dtype=x.dtype), "graded": 1.0}
        _, tr = kernels.run("alpha", x, AlphaState(e0, h0, torch.zeros_like(e0)), params, opts, record=True,
                            backend="cpu")
        return tr.i_exc, tr.i_inh, tr.v

    assert torch.autograd.gradcheck(fn, (x, e0, h0, alpha, beta))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_alpha_gradcheck_spike_free_regime(reset: str) -> None:
    """Threshold far away, attached reset with a compact surrogate: smooth in every input."""
    gen = torch.Generator().manual_seed(6)
    x = (0.3 * torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    state = [(0.1 * torch.randn(2, 3, generator=gen, dtype=torch.float64)).requires_grad_() for _ in range(3)]
    alpha = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64, requires_grad=True)
    opts = make_options(reset, True, False, surrogate.Triangular(width=1.0))

    def fn(x, e0, h0, v0, alpha, beta):
        params = {"alpha": alpha, "beta": beta, "threshold": torch.tensor(50.0, dtype=x.dtype), "graded": 1.0}
        out, st = kernels.run("alpha", x, AlphaState(e0, h0, v0), params, opts, backend="cpu")
        return out, *st

    assert torch.autograd.gradcheck(fn, (x, *state, alpha, beta))


def test_alpha_module_cpu_equals_reference() -> None:
    """``sf.Alpha(..., backend="cpu")`` gives the reference outputs and parameter gradients."""
    gen = torch.Generator().manual_seed(11)
    x = 2.0 * torch.randn(20, 4, 6, generator=gen, dtype=torch.float64) + 0.5
    results = []
    for backend in ("reference", "cpu"):
        lif = sf.Alpha(alpha=torch.linspace(0.8, 0.95, 6), beta=0.6, learn_alpha=True, learn_beta=True,
                       learn_threshold=True, learn_graded_spikes=True, graded_spikes=0.8, backend=backend).double()
        out, st = lif(x)
        (out.sum() + st.v.square().sum()).backward()
        results.append((out, st, [p.grad for p in (lif.alpha, lif.beta, lif.threshold, lif.graded_spikes)]))
    (o1, s1, g1), (o2, s2, g2) = results
    assert o1.sum() > 0
    assert torch.equal(o1, o2)
    for a, b in zip([*s1, *g1], [*s2, *g2], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)


def test_alpha_saved_memory_is_small() -> None:
    """Without ``record`` the backward keeps the input and per-chunk checkpoints only."""
    x = torch.randn(50, 4, 16, requires_grad=True)
    opts = make_options("zero", True)
    params = {"alpha": torch.tensor(0.9), "beta": torch.tensor(0.6), "threshold": torch.tensor(1.0), "graded": 1.0}
    sizes = {}
    for backend in ("reference", "cpu"):
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor, seen: dict[int, int] = seen) -> torch.Tensor:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            kernels.run("alpha", x, AlphaState(*(torch.zeros(4, 16) for _ in range(3))), params, opts,
                        backend=backend)
        sizes[backend] = sum(seen.values())
    assert sizes["cpu"] <= x.numel() * 4 + 8 * 4 * 16 * 4
    assert sizes["cpu"] < 0.5 * sizes["reference"]


def test_alpha_supports_only_the_defined_options() -> None:
    x = torch.zeros(2, 1, 3)
    assert kernels.BACKENDS["cpu"].supports("alpha", x, make_options("zero", True))
    assert not kernels.BACKENDS["cpu"].supports("alpha", x, make_options("zero", False))
    assert not kernels.BACKENDS["cpu"].supports("alpha", x, make_options("zero", True, inhibition=True))
