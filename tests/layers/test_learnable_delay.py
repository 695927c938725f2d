"""Learnable delays: exact integer delays, interpolation, gradients (float64 gradcheck), the numba
kernel against the reference, state continuation, Sequential, NIR export and import."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch

import spikeflow as sf
from spikeflow.functional.delay import DelayState, delay_weights, neuron_delay, with_history
from spikeflow.layers import DelayRoundingWarning

F64 = torch.float64


def _spikes(T: int, B: int, N: int, seed: int, p: float = 0.3, dtype: torch.dtype = F64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, N, generator=gen) < p).to(dtype) * torch.randn(T, B, N, generator=gen).to(dtype)


def test_integer_delays_are_exact_shifts() -> None:
    x = _spikes(12, 2, 4, 0)
    steps = torch.tensor([0, 1, 3, 5])
    y, _ = sf.LearnableDelay(5, delay=steps.to(F64)).double()(x)
    y_fixed, _ = sf.Delay(steps)(x)
    torch.testing.assert_close(y, y_fixed, rtol=0, atol=0)


@pytest.mark.parametrize("kernel", ["linear", "gaussian"])
def test_delay_weights_sum_to_one_and_linear_interpolates(kernel: str) -> None:
    d = torch.tensor([0.0, 0.25, 2.5, 3.0, 4.0], dtype=F64)
    w = delay_weights(d, 4, kernel, sigma=0.7)
    torch.testing.assert_close(w.sum(0), torch.ones(5, dtype=F64))
    if kernel == "linear":
        assert w[0, 1] == 0.75 and w[1, 1] == 0.25 and w[2, 2] == 0.5 and w[3, 2] == 0.5 and w[4, 4] == 1


def test_gradient_of_a_fractional_delay() -> None:
    """dy[t]/dd = x[t - floor(d) - 1] - x[t - floor(d)] for the linear kernel."""
    x = torch.arange(1.0, 11.0, dtype=F64).square().reshape(10, 1, 1)
    m = sf.LearnableDelay(4, delay=1.3).double()
    y, _ = m(x)
    torch.testing.assert_close(y[5, 0, 0], 0.7 * x[4, 0, 0] + 0.3 * x[3, 0, 0])
    (g,) = torch.autograd.grad(y[5].sum(), m.delay)
    torch.testing.assert_close(g, x[3, 0, 0] - x[4, 0, 0])


@pytest.mark.parametrize("kernel", ["linear", "gaussian"])
def test_gradcheck_neuron_delay(kernel: str) -> None:
    x = torch.randn(7, 2, 3, dtype=F64, requires_grad=True)
    hist = torch.randn(4, 2, 3, dtype=F64, requires_grad=True)
    d = torch.tensor([0.3, 1.6, 3.2], dtype=F64, requires_grad=True)

    def fn(x, hist, d):
        full = with_history(x, DelayState(hist), 4)
        return neuron_delay(full, delay_weights(d, 4, kernel, 0.8), x.shape[0])

    assert torch.autograd.gradcheck(fn, (x, hist, d))


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("kernel", ["linear", "gaussian"])
def test_gradcheck_synapse_delay(backend: str, kernel: str) -> None:
    if backend == "cpu" and kernel == "gaussian":
        pytest.skip("the numba kernel serves the linear kernel only (checked below)")
    x = torch.randn(6, 2, 3, dtype=F64, requires_grad=True)
    hist = torch.randn(3, 2, 3, dtype=F64, requires_grad=True)
    w = torch.randn(2, 3, dtype=F64, requires_grad=True)
    d = torch.tensor([[0.2, 1.5, 2.7], [0.6, 2.1, 1.3]], dtype=F64, requires_grad=True)
    bias = torch.randn(2, dtype=F64, requires_grad=True)

    def fn(x, hist, w, d, bias):
        full = torch.cat([hist, x])
        return sf.kernels.delay.run(full, w, d, bias, 3, kernel, 0.8, backend)

    assert torch.autograd.gradcheck(fn, (x, hist, w, d, bias))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_numba_kernel_equals_reference(dtype: torch.dtype) -> None:
    """Event-driven CPU kernel vs the reference convolution: outputs and every gradient, with a
    history state, integer and fractional delays, delays at 0 and at max_delay."""
    x = _spikes(25, 3, 6, 1, dtype=dtype).requires_grad_()
    hist = _spikes(4, 3, 6, 2, dtype=dtype)
    results = []
    for backend in ("reference", "cpu"):
        torch.manual_seed(3)
        m = sf.DelayedLinear(6, 5, 4, backend=backend).to(dtype)
        with torch.no_grad():
            m.delay[0, :3] = torch.tensor([0.0, 4.0, 2.0])
        y, st = m(x, DelayState(hist))
        probe = torch.linspace(-1, 1, y.numel(), dtype=dtype).reshape(y.shape)
        grads = torch.autograd.grad((y * probe).sum(), [x, m.weight, m.delay, m.bias])
        results.append((y, st.history, grads))
    (y1, h1, g1), (y2, h2, g2) = results
    assert y1.abs().sum() > 0
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y2, y1, **tol)
    torch.testing.assert_close(h2, h1, rtol=0, atol=0)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, **tol)


def test_cpu_backend_refuses_with_reasons() -> None:
    m = sf.DelayedLinear(3, 2, 4, kernel="gaussian", backend="cpu")
    with pytest.raises(ValueError, match="kernel 'gaussian'"):
        m(torch.randn(5, 1, 3))


@pytest.mark.parametrize("module", ["neuron", "synapse"])
def test_step_and_chunks_equal_the_sequence(module: str) -> None:
    x = _spikes(16, 2, 3, 4)
    torch.manual_seed(0)
    m = (sf.LearnableDelay(5, delay=(0.0, 5.0), features=3) if module == "neuron"
         else sf.DelayedLinear(3, 2, 5)).double()
    seq, final = m(x)
    state, outs = None, []
    for t in range(16):
        o, state = m.step(x[t], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), seq)
    torch.testing.assert_close(state.history, final.history)
    a, mid = m(x[:7])
    b, _ = m(x[7:], mid)
    torch.testing.assert_close(torch.cat([a, b]), seq)


def test_validation() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        sf.LearnableDelay(0)
    with pytest.raises(ValueError, match="delay"):
        sf.LearnableDelay(3, delay=4.0)
    with pytest.raises(ValueError, match="features"):
        sf.LearnableDelay(3, delay=(0.0, 2.0))
    with pytest.raises(ValueError, match="kernel"):
        sf.DelayedLinear(2, 2, 3, kernel="cubic")
    with pytest.raises(ValueError, match="state"):
        sf.LearnableDelay(3)(torch.zeros(4, 2, 5), DelayState(torch.zeros(2, 2, 5)))
    with pytest.raises(ValueError, match=r"\[T, B, 4\]"):
        sf.DelayedLinear(4, 2, 3)(torch.zeros(5, 2, 3))


def test_nir_round_trip_and_rounding() -> None:
    """Per-neuron delays become one nir.Delay, per-synapse delays one branch per delay value;
    the imported graph (fixed integer delays) reproduces the network exactly; rounding warns."""
    torch.manual_seed(0)
    net = sf.Sequential(
        sf.DelayedLinear(3, 4, 5, delay=torch.randint(0, 6, (4, 3)).float()),
        sf.LearnableDelay(4, delay=torch.tensor([0.0, 1.0, 2.0, 4.0])),
        sf.Leaky(beta=0.9, reset_delay=False),
    )
    dt = 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error", DelayRoundingWarning)
        graph = sf.to_nir(net, (3,), dt=dt)
    assert isinstance(graph.nodes["1"], nir.Delay)
    np.testing.assert_allclose(graph.nodes["1"].delay, np.array([0.0, 1.0, 2.0, 4.0]) * dt)
    back = sf.from_nir(graph, dt=dt)
    x = (torch.rand(30, 2, 3) < 0.3).float() * 2
    y1, _ = net(x)
    y2, _ = back(x)
    assert y1.sum() > 0
    torch.testing.assert_close(y2, y1, rtol=0, atol=1e-6)
    with torch.no_grad():
        net[1].delay[0] = 0.4
    with pytest.warns(DelayRoundingWarning, match="module '1'"):
        sf.to_nir(net, (3,), dt=dt)
    net[1].round_delays()
    assert float(net[1].delay[0]) == 0.0


def test_nir_file_round_trip(tmp_path) -> None:
    """Through a .nir file (h5py): the per-synapse branches survive writing and reading."""
    net = sf.Sequential(sf.DelayedLinear(2, 3, 3, delay=torch.tensor([[0.0, 3.0], [1.0, 1.0], [2.0, 0.0]])))
    path = tmp_path / "d.nir"
    sf.save_nir(net, path, (2,), dt=1e-3)
    back = sf.load_nir(path, dt=1e-3)
    x = torch.randn(10, 2, 2)
    torch.testing.assert_close(back(x)[0], net(x)[0], rtol=1e-6, atol=1e-6)


def _interval_task(n: int, gen: torch.Generator, T: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Input 0 spikes at a random time, input 1 follows 5 steps later (label 1) or 2 or 8 steps later (0)."""
    x = torch.zeros(T, n, 2)
    pos = torch.rand(n, generator=gen) < 0.5
    other = torch.where(torch.rand(n, generator=gen) < 0.5, 2, 8)
    gap = torch.where(pos, 5, other)
    ta = torch.randint(0, T - 10, (n,), generator=gen)
    x[ta, torch.arange(n), 0] = 1.0
    x[ta + gap, torch.arange(n), 1] = 1.0
    return x, pos.float()


def _train_interval_detector(delays: bool, steps: int = 120) -> float:
    """One leaky integrator reading the two inputs, trained to peak above a learned threshold only
    for the 5-step interval. Gaussian delay kernel annealed from sigma 4 to 0.5 (DCLS-style)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    first = (sf.DelayedLinear(2, 1, 10, bias=False, delay=0.0, kernel="gaussian", sigma=4.0) if delays
             else torch.nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        first.weight.fill_(1.0)
    net = sf.Sequential(first, sf.LI(beta=0.8))
    theta = torch.nn.Parameter(torch.tensor(1.5))
    opt = torch.optim.Adam([*net.parameters(), theta], lr=0.1)
    for i in range(steps):
        if delays:
            first.sigma = max(0.5, 4.0 - 3.5 * i / (0.7 * steps))
        x, y = _interval_task(64, gen)
        peak = net(x)[0].amax(0)[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(5 * (peak - theta), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _interval_task(1000, torch.Generator().manual_seed(123))
    with torch.no_grad():
        return ((net(x)[0].amax(0)[:, 0] > theta).float() == y).float().mean().item()


def test_learned_delays_solve_an_interval_task_that_needs_them() -> None:
    """Telling a 5-step interval from 2 and 8 steps: without delays a single leaky integrator's
    peak is monotone in the interval (at most 75 % correct); with learnable per-synapse delays
    it learns to delay input 0 by ~5 steps and detects the coincidence."""
    assert _train_interval_detector(delays=True) >= 0.95
    assert _train_interval_detector(delays=False) <= 0.8
