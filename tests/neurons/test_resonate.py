"""Balanced resonate-and-fire neuron: closed-form oscillation, resonance, refractoriness, gradients."""

from __future__ import annotations

import cmath
import math

import pytest
import torch

import spikeflow as sf
from spikeflow import surrogate
from spikeflow.dynamics.options import make_options
from spikeflow.dynamics.resonate import ResonateState, divergence_boundary

F64 = torch.float64


def _pulse_train(T: int, times: list[int], amp: float, n: int = 1) -> torch.Tensor:
    x = torch.zeros(T, 1, n, dtype=F64)
    for t in times:
        x[t] = amp
    return x


@pytest.mark.parametrize("discretisation", ["euler", "exact"])
def test_subthreshold_oscillation_matches_closed_form(discretisation: str) -> None:
    """One input pulse, no spike: z[t] = dt A lambda^t with lambda = 1 + dt (p - b_off + i w)
    (Euler) or exp(dt (-b_off + i w)) (exact), per neuron."""
    dt, omegas, offs = 0.01, [5.0, 20.0, 60.0], [0.0, 0.5, 3.0]
    neuron = sf.ResonateFire(omega=torch.tensor(omegas), b_offset=torch.tensor(offs), threshold=1e6, dt=dt,
                             discretisation=discretisation).double()
    T, amp = 300, 2.0
    x = _pulse_train(T, [0], amp, n=3)
    out, tr = neuron(x, record=True)
    assert out.sum() == 0
    for k, (w, off) in enumerate(zip(omegas, offs, strict=True)):
        if discretisation == "euler":
            p = (math.sqrt(1 - (dt * w) ** 2) - 1) / dt
            lam = 1 + dt * complex(p - off, w)
        else:
            lam = cmath.exp(dt * complex(-off, w))
        expect = torch.tensor([dt * amp * lam**t for t in range(T)], dtype=torch.complex128)
        got = torch.complex(tr.u[:, 0, k], tr.v[:, 0, k])
        torch.testing.assert_close(got, expect, rtol=1e-10, atol=1e-14)
        # frequency per step and decay per step read back from the trace
        ratio = got[200].detach() / got[199].detach()
        assert abs(cmath.phase(complex(ratio)) - cmath.phase(lam)) < 1e-9
        assert abs(abs(complex(ratio)) - abs(lam)) < 1e-9


def test_divergence_boundary_balances_the_euler_step() -> None:
    """At b = p(omega) the Euler factor has modulus exactly 1 (a sustained oscillation)."""
    dt = 0.01
    omega = torch.tensor([1.0, 10.0, 50.0, 99.0], dtype=F64)
    p = divergence_boundary(omega, dt)
    modulus = torch.sqrt((1 + dt * p) ** 2 + (dt * omega) ** 2)
    torch.testing.assert_close(modulus, torch.ones_like(modulus), rtol=0, atol=1e-12)
    assert (p <= 0).all()


@pytest.mark.parametrize("discretisation", ["euler", "exact"])
def test_pulse_pair_at_resonant_interval_fires(discretisation: str) -> None:
    """Two pulses one period apart add in phase and cross the threshold; half a period (or
    a single pulse) do not. Period: 20 steps."""
    dt, period = 1.0 if discretisation == "exact" else 0.01, 20
    if discretisation == "exact":
        omega = 2 * math.pi / (period * dt)
    else:  # the Euler factor's phase per step is atan2(dt w, 1 + dt b) = 2 pi / period at b = p(w)
        omega = math.sin(2 * math.pi / period) / dt
    decay = 0.9  # |lambda|^period
    b_off = -math.log(decay) / (period * dt) if discretisation == "exact" else None
    if b_off is None:  # Euler: solve |1 + dt (p - b_off + i w)|^period = decay for b_off
        p = (math.sqrt(1 - (dt * omega) ** 2) - 1) / dt
        target = decay ** (1 / period)
        b_off = p - (math.sqrt(target**2 - (dt * omega) ** 2) - 1) / dt
    amp = 0.6 / dt  # each pulse alone lifts u to 0.6
    kw = dict(omega=omega, b_offset=b_off, threshold=1.0, dt=dt, discretisation=discretisation)
    neuron = sf.ResonateFire(**kw).double()
    counts = {}
    for name, times in {"single": [5], "resonant": [5, 5 + period], "half": [5, 5 + period // 2],
                        "quarter": [5, 5 + period // 4]}.items():
        out, _ = neuron(_pulse_train(80, times, amp))
        counts[name] = int(out.sum())
    assert counts == {"single": 0, "resonant": 1, "half": 0, "quarter": 0}, counts


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_complex_form_and_refractory_term(backend: str) -> None:
    """The real-arithmetic step (reference and fused) follows the paper's complex recursion,
    spikes included: q decays by gamma and jumps by each spike, raising threshold and damping."""
    gen = torch.Generator().manual_seed(0)
    T, B, N, dt, gamma = 60, 3, 5, 0.01, 0.8
    omega = torch.rand(N, generator=gen, dtype=F64) * 40 + 5
    b_off = torch.rand(N, generator=gen, dtype=F64)
    x = torch.randn(T, B, N, generator=gen, dtype=F64) * 150 + 40
    neuron = sf.ResonateFire(omega=omega, b_offset=b_off, dt=dt, gamma=gamma, backend=backend).double()
    out, tr = neuron(x, record=True)
    assert 0 < out.sum() < out.numel() / 2
    p = (torch.sqrt(1 - (dt * omega) ** 2) - 1) / dt
    z = torch.zeros(B, N, dtype=torch.complex128)
    q = torch.zeros(B, N, dtype=F64)  # the paper's q: updated after each step's spike
    for t in range(T):
        b = p - b_off - q
        z = (1 + dt * torch.complex(b, omega.expand(B, N))) * z + dt * x[t]
        s = (z.real - 1.0 - q > 0).to(F64)
        torch.testing.assert_close(out[t], s, rtol=0, atol=0)
        torch.testing.assert_close(torch.complex(tr.u[t], tr.v[t]), z, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(tr.q[t], q, rtol=0, atol=1e-12)  # the term in effect at step t
        q = gamma * q + s


def test_refractory_reset_gives_one_spike_per_cycle() -> None:
    """A balanced neuron (b_offset 0) kicked once above threshold keeps oscillating. With the
    refractory term (smooth reset) it fires once per cycle (period 2 pi / (omega dt) ~ 63 steps);
    without it, it fires on every step the real part stays above threshold."""
    x = torch.zeros(300, 1, 1, dtype=F64)
    x[0] = 150.0  # u jumps to 1.5
    kw = dict(omega=10.0, b_offset=0.0)
    s_ref = sf.ResonateFire(**kw).double()(x)[0][:, 0, 0].nonzero().flatten()
    s_none = sf.ResonateFire(**kw, reset="none").double()(x)[0][:, 0, 0].nonzero().flatten()
    gaps = s_ref.diff()
    assert len(s_ref) == 5 and ((gaps > 50) & (gaps < 70)).all(), s_ref
    assert len(s_none) > 3 * len(s_ref)


def test_step_equals_sequence_and_state_continues() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, 2, 3, generator=gen, dtype=F64) * 200
    neuron = sf.ResonateFire(3, omega=(5.0, 30.0), b_offset=(0.0, 1.0)).double()
    seq, final = neuron(x)
    state, outs = None, []
    for t in range(x.shape[0]):
        o, state = neuron.step(x[t], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), seq)
    first, mid = neuron(x[:12])
    second, end = neuron(x[12:], mid)
    torch.testing.assert_close(torch.cat([first, second]), seq)
    for a, b in zip(end, final, strict=True):
        torch.testing.assert_close(a, b)
    assert isinstance(final, ResonateState)


@pytest.mark.parametrize("model,backend", [("resonate", "reference"), ("resonate", "cpu"),
                                           ("resonate_exact", "reference")])
def test_gradcheck_spike_free(model: str, backend: str) -> None:
    """Below threshold the traces are smooth in x, the initial state (u, v, q, z: z enters q) and
    omega, b_offset: float64 gradcheck of the reference and of the fused CPU kernel."""
    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(8, 2, 3, generator=gen, dtype=F64) * 5).requires_grad_()
    u0, v0, q0, z0 = (torch.rand(2, 3, generator=gen, dtype=F64).requires_grad_() for _ in range(4))
    omega = torch.tensor([6.0, 15.0, 30.0], dtype=F64, requires_grad=True)
    b_off = torch.tensor([0.2, 0.5, 1.0], dtype=F64, requires_grad=True)
    opts = make_options("subtract", True, False, surrogate.Triangular(width=1.0))

    def fn(x, u0, v0, q0, z0, omega, b_off):
        params = {"omega": omega, "b_offset": b_off, "threshold": torch.tensor(50.0, dtype=F64), "graded": 1.0,
                  "dt": 0.05, "gamma": 0.9}
        out, tr = sf.kernels.run(model, x, ResonateState(u0, v0, q0, z0), params, opts, record=True,
                                 backend=backend)
        return out, tr.u, tr.v, tr.q

    assert torch.autograd.gradcheck(fn, (x, u0, v0, q0, z0, omega, b_off))


@pytest.mark.parametrize("reset,detach", [("refractory", False), ("refractory", True), ("none", False)])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_fused_cpu_equals_reference_with_spikes(reset: str, detach: bool, dtype: torch.dtype) -> None:
    """The numba kernel generated from the declared rows: spikes and states bit-identical to the
    reference, gradients of input, initial state and every parameter to 1e-5."""
    gen = torch.Generator().manual_seed(5)
    T, B, N = 40, 3, 6
    x = (torch.randn(T, B, N, generator=gen, dtype=F64) * 150 + 40).to(dtype).requires_grad_()
    results = []
    for backend in ("reference", "cpu"):
        torch.manual_seed(0)
        neuron = sf.ResonateFire(N, omega=(5.0, 40.0), b_offset=(0.0, 1.0), reset=reset, detach_reset=detach,
                                 learn_threshold=True, surrogate="fast_sigmoid", backend=backend).to(dtype)
        s0 = ResonateState(*(torch.rand(B, N, generator=torch.Generator().manual_seed(k), dtype=F64).to(dtype)
                             .requires_grad_() for k in range(3)), torch.zeros(B, N, dtype=dtype))
        out, tr = neuron(x, s0, record=True)
        probe = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
        loss = (out * probe).sum() + tr.u[-1].square().sum() + tr.v.sum()
        grads = torch.autograd.grad(loss, [x, *s0[:3], *neuron.parameters()])
        results.append((out, tr, grads))
    (o1, t1, g1), (o2, t2, g2) = results
    assert 0 < o1.sum() < o1.numel()
    torch.testing.assert_close(o2, o1, rtol=0, atol=0)
    for a, b in zip(t1, t2, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * max(1.0, a.abs().max().item()))


def test_backend_choice() -> None:
    """auto fuses the Euler model on CPU; the exact rotation is refused by the fused kernel with
    its reason and runs on the reference."""
    x = torch.randn(5, 2, 3)
    sf.ResonateFire(3, backend="cpu")(x)
    with pytest.raises(ValueError, match="resonate_exact"):
        sf.ResonateFire(3, discretisation="exact", backend="cpu")(x)
    call = sf.kernels.call.KernelCall("resonate_exact", x, None, {}, None)  # type: ignore[arg-type]
    assert sf.kernels.registry.select(call).NAME == "reference"
    call = sf.kernels.call.KernelCall("resonate", x, None, {}, None)  # type: ignore[arg-type]
    assert sf.kernels.registry.select(call).NAME == "numba_scan"


def test_parameters_learn_and_validate() -> None:
    neuron = sf.ResonateFire(4, omega=(5.0, 10.0), b_offset=(2.0, 3.0))
    assert {n for n, _ in neuron.named_parameters()} == {"omega", "b_offset"}
    omega = neuron.omega.detach()
    assert omega.shape == (4,) and 5 <= float(omega.min()) <= float(omega.max()) <= 10
    x = torch.randn(20, 2, 4) * 300
    out, st = neuron(x)
    (out.sum() + st.u.sum()).backward()
    assert neuron.omega.grad is not None and neuron.omega.grad.abs().sum() > 0
    assert neuron.b_offset.grad is not None and neuron.b_offset.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="omega"):
        sf.ResonateFire(omega=200.0, dt=0.01)  # Euler needs |omega| dt < 1
    sf.ResonateFire(omega=200.0, dt=0.01, discretisation="exact")  # the exact rotation has no limit
    with pytest.raises(ValueError, match="features"):
        sf.ResonateFire(omega=(5.0, 10.0))
    with pytest.raises(ValueError, match="discretisation"):
        sf.ResonateFire(discretisation="rk4")
    with pytest.raises(ValueError, match="reset"):
        sf.ResonateFire(reset="subtract")
    with pytest.raises(ValueError, match="state.u"):
        neuron(x, ResonateState(*(torch.zeros(3, 4) for _ in range(4))))


def test_inside_sequential_and_auto_backend() -> None:
    """Usable in sf.Sequential; auto picks a backend that serves it, an explicit one that
    does not raises."""
    net = sf.Sequential(torch.nn.Linear(3, 4), sf.ResonateFire(4, omega=(5.0, 10.0)))
    out, states = net(torch.randn(10, 2, 3))
    assert out.shape == (10, 2, 4) and isinstance(states[1], ResonateState)
