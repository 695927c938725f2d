"""The fused ``cpu`` backend's chunked training path (fixed beta and threshold, detached reset).

That path keeps the input instead of the membranes, recomputes them a chunk of steps at a
time in the backward and evaluates the surrogate per chunk. Chunks are made tiny here so that
every chunk boundary case runs: results must match ``reference`` and be bit-identical to one
big chunk.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from spikeflow import kernels, surrogate
from spikeflow.functional import LeakyState, make_options

pytest.importorskip("numba")
from spikeflow.kernels import _cpu_util  # noqa: E402

T, B, N = 13, 2, 5
SURROGATES = [surrogate.ATan(), surrogate.FastSigmoid(), surrogate.Heaviside(), surrogate.Sigmoid(slope=5.0)]
CASES = list(itertools.product(["subtract", "zero", "none"], [True, False], [False, True]))


def _grads(backend: str, x, v0, beta, thr, opts, loss_kind: str, record: bool):
    params = {"beta": beta, "threshold": thr, "graded": 1.0}
    out, st = kernels.run("leaky", x, LeakyState(v0), params, opts, record=record, backend=backend)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    if loss_kind == "spikes":
        loss = (out * weights).sum()
    elif loss_kind == "spikes+state":
        loss = (out * weights).sum() + (st.v * st.v).sum()
    else:  # only the final state (or the trace): the backward gets no spike gradient
        loss = (st.v * st.v).sum()
    return out.detach(), st.v.detach(), torch.autograd.grad(loss, [x, v0])


@pytest.mark.parametrize("reset,delay,per_neuron", CASES)
@pytest.mark.parametrize("chunk_steps", [1, 3, 5])
def test_chunked_path_matches_reference(
    monkeypatch: pytest.MonkeyPatch, reset: str, delay: bool, per_neuron: bool, chunk_steps: int
) -> None:
    idx = CASES.index((reset, delay, per_neuron))
    gen = torch.Generator().manual_seed(100 + idx)
    opts = make_options(reset, delay, True, SURROGATES[idx % len(SURROGATES)])
    assert opts.detach
    x = (0.9 * torch.randn(T, B, N, generator=gen, dtype=torch.float64) + 0.3).requires_grad_()
    v0 = (0.5 * torch.randn(B, N, generator=gen, dtype=torch.float64)).requires_grad_()
    beta = 0.6 + 0.3 * torch.rand(N if per_neuron else (), generator=gen, dtype=torch.float64)
    thr = torch.tensor(0.9, dtype=torch.float64)
    monkeypatch.setattr(_cpu_util, "CHUNK_ELEMS", chunk_steps * B * N)
    for loss_kind, record in itertools.product(("spikes", "spikes+state", "state"), (False, True)):
        o1, v1, g1 = _grads("reference", x, v0, beta, thr, opts, loss_kind, record)
        o2, v2, g2 = _grads("cpu", x, v0, beta, thr, opts, loss_kind, record)
        assert o1.sum() > 0, "test input must make the neuron fire"
        assert torch.equal(o1, o2)
        torch.testing.assert_close(v2, v1, rtol=1e-12, atol=1e-12)
        for a, b in zip(g1, g2, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("reset,delay", [("zero", False), ("zero", True), ("subtract", False)])
def test_chunking_is_bit_identical_float32(monkeypatch: pytest.MonkeyPatch, reset: str, delay: bool) -> None:
    gen = torch.Generator().manual_seed(9)
    x = (torch.randn(37, 3, 16, generator=gen) + 0.4).requires_grad_()
    opts = make_options(reset, delay, True, surrogate.ATan())
    params = {"beta": torch.tensor(0.9), "threshold": torch.tensor(1.0), "graded": 1.0}
    results = []
    for chunk in (1 << 30, 4 * 3 * 16):
        monkeypatch.setattr(_cpu_util, "CHUNK_ELEMS", chunk)
        out, st = kernels.run("leaky", x, LeakyState(torch.zeros(3, 16)), params, opts, backend="cpu")
        (gx,) = torch.autograd.grad(out.sum(), [x])
        results.append((out, st.v, gx))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("sur", [surrogate.ATan(alpha=3.0), surrogate.FastSigmoid(slope=7.0)])
def test_kernel_formula_is_the_torch_derivative(sur: surrogate.Surrogate) -> None:
    """``kernel_formula`` is the same definition as ``grad`` (bitwise on tensors, close compiled)."""
    import numba
    import numpy as np

    formula = sur.kernel_formula()
    assert formula is not None
    f, consts = formula
    x = torch.linspace(-4, 4, 1001)
    spike = (x > 0).float()
    assert torch.equal(f(x, spike, *consts), sur.grad(x, spike))
    compiled = numba.njit(f)
    c32 = tuple(np.float32(c) for c in consts)
    pairs = zip(x.tolist(), spike.tolist(), strict=True)
    scalar = torch.tensor([compiled(np.float32(v), np.float32(s), *c32) for v, s in pairs])
    torch.testing.assert_close(scalar, sur.grad(x, spike), rtol=1e-6, atol=1e-7)


def test_subclass_with_its_own_grad_keeps_the_torch_path() -> None:
    class Scaled(surrogate.ATan):
        def grad(self, x: torch.Tensor, spike: torch.Tensor) -> torch.Tensor:
            return 2 * super().grad(x, spike)

    assert Scaled().kernel_formula() is None
    gen = torch.Generator().manual_seed(11)
    x = (torch.randn(9, 2, 4, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    opts = make_options("zero", False, True, Scaled())
    params = {"beta": torch.tensor(0.8, dtype=torch.float64), "threshold": torch.tensor(1.0, dtype=torch.float64),
              "graded": 1.0}
    grads = []
    for backend in ("reference", "cpu"):
        out, _ = kernels.run("leaky", x, LeakyState(torch.zeros(2, 4, dtype=torch.float64)), params, opts,
                             backend=backend)
        grads.append(torch.autograd.grad(out.sum(), [x])[0])
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)
