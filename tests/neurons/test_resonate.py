"""Balanced resonate-and-fire neuron: closed-form oscillation, resonance, refractoriness, gradients."""

from __future__ import annotations

import cmath
import math

import pytest
import torch

import spikeflow as sf
from spikeflow import surrogate
from spikeflow.functional.resonate import ResonateState, divergence_boundary, make_resonate_options

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
    opts = make_resonate_options(dt=0.01)
    omega = torch.tensor([1.0, 10.0, 50.0, 99.0], dtype=F64)
    p = divergence_boundary(omega, opts)
    modulus = torch.sqrt((1 + opts.dt * p) ** 2 + (opts.dt * omega) ** 2)
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


def test_complex_form_and_refractory_term() -> None:
    """The real-arithmetic step equals the complex recursion of the paper, spikes included, and
    q decays by gamma and jumps by each spike."""
    gen = torch.Generator().manual_seed(0)
    T, B, N, dt, gamma = 60, 3, 5, 0.01, 0.8
    omega = torch.rand(N, generator=gen, dtype=F64) * 40 + 5
    b_off = torch.rand(N, generator=gen, dtype=F64)
    x = torch.randn(T, B, N, generator=gen, dtype=F64) * 150 + 40
    neuron = sf.ResonateFire(omega=omega, b_offset=b_off, dt=dt, gamma=gamma).double()
    out, tr = neuron(x, record=True)
    assert 0 < out.sum() < out.numel() / 2
    p = (torch.sqrt(1 - (dt * omega) ** 2) - 1) / dt
    z = torch.zeros(B, N, dtype=torch.complex128)
    q = torch.zeros(B, N, dtype=F64)
    for t in range(T):
        b = p - b_off - q
        z = (1 + dt * torch.complex(b, omega.expand(B, N))) * z + dt * x[t]
        s = (z.real - 1.0 - q > 0).to(F64)
        q = gamma * q + s
        torch.testing.assert_close(out[t], s, rtol=0, atol=0)
        torch.testing.assert_close(torch.complex(tr.u[t], tr.v[t]), z, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(tr.q[t], q, rtol=0, atol=1e-14)


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


@pytest.mark.parametrize("discretisation", ["euler", "exact"])
def test_gradcheck_spike_free(discretisation: str) -> None:
    """Below threshold the traces are smooth in x, the initial state and omega, b_offset:
    float64 gradcheck through the module's dynamics."""
    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(8, 2, 3, generator=gen, dtype=F64) * 5).requires_grad_()
    u0, v0, q0 = (torch.rand(2, 3, generator=gen, dtype=F64).requires_grad_() for _ in range(3))
    omega = torch.tensor([6.0, 15.0, 30.0], dtype=F64, requires_grad=True)
    b_off = torch.tensor([0.2, 0.5, 1.0], dtype=F64, requires_grad=True)
    opts = make_resonate_options(dt=0.05, discretisation=discretisation, surrogate=surrogate.Triangular(width=1.0))

    def fn(x, u0, v0, q0, omega, b_off):
        params = {"omega": omega, "b_offset": b_off, "threshold": torch.tensor(50.0, dtype=F64)}
        out, tr = sf.kernels.run("resonate", x, ResonateState(u0, v0, q0), params, opts, record=True)
        return out, tr.u, tr.v, tr.q

    assert torch.autograd.gradcheck(fn, (x, u0, v0, q0, omega, b_off))


def test_parameters_learn_and_validate() -> None:
    neuron = sf.ResonateFire(4, omega=(5.0, 10.0), b_offset=(2.0, 3.0))
    assert {n for n, _ in neuron.named_parameters()} == {"omega", "b_offset"}
    assert neuron.omega.shape == (4,) and 5 <= float(neuron.omega.detach().min()) <= float(neuron.omega.detach().max()) <= 10
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
        neuron(x, ResonateState(*(torch.zeros(3, 4) for _ in range(3))))


def test_inside_sequential_and_auto_backend() -> None:
    """Usable in sf.Sequential; auto picks a backend that serves it, an explicit one that
    does not raises."""
    net = sf.Sequential(torch.nn.Linear(3, 4), sf.ResonateFire(4, omega=(5.0, 10.0)))
    out, states = net(torch.randn(10, 2, 3))
    assert out.shape == (10, 2, 4) and isinstance(states[1], ResonateState)
