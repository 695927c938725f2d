"""Closed-form neuron cases worked out by hand (dyadic numbers, so float32 is exact).

Expected sequences are written literally or with a few lines of plain Python floats in
the test; nothing here calls spikeflow.functional.
"""

from __future__ import annotations

import math

import pytest
import torch

import spikeflow as sf


def _const(value: float, steps: int, shape: tuple[int, ...] = (1, 1)) -> torch.Tensor:
    return torch.full((steps, *shape), value)


def _flat(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.detach().flatten()]


# Leaky, beta = 0.5, threshold = 1, constant input 0.75 for 6 steps.
# (reset, reset_delay) -> (spikes, membrane after each step)
LEAKY_CASES = {
    # v[t] = 0.5 v[t-1] + 0.75 - R[t], R[t] = [v[t-1] > 1]
    ("subtract", True): (
        [0, 1, 0, 0, 1, 0],
        [0.75, 1.125, 0.3125, 0.90625, 1.203125, 0.3515625],
    ),
    # spike at t subtracts 1 at once: 1.125 -> 0.125, 1.15625 -> 0.15625, ...
    ("subtract", False): (
        [0, 1, 0, 1, 0, 1],
        [0.75, 0.125, 0.8125, 0.15625, 0.828125, 0.1640625],
    ),
    # v[t] = 0.5 (1 - R[t]) v[t-1] + 0.75: the membrane is cleared, the new input kept.
    ("zero", True): (
        [0, 1, 0, 1, 0, 1],
        [0.75, 1.125, 0.75, 1.125, 0.75, 1.125],
    ),
    ("zero", False): (
        [0, 1, 0, 1, 0, 1],
        [0.75, 0.0, 0.75, 0.0, 0.75, 0.0],
    ),
    # no reset: v[t] = 1.5 (1 - 0.5^(t+1)); fires from t = 1 on.
    ("none", True): (
        [0, 1, 1, 1, 1, 1],
        [0.75, 1.125, 1.3125, 1.40625, 1.453125, 1.4765625],
    ),
    ("none", False): (
        [0, 1, 1, 1, 1, 1],
        [0.75, 1.125, 1.3125, 1.40625, 1.453125, 1.4765625],
    ),
}


@pytest.mark.parametrize("reset, reset_delay", list(LEAKY_CASES), ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_leaky_constant_input(reset: str, reset_delay: bool, dtype: torch.dtype) -> None:
    spikes_exp, v_exp = LEAKY_CASES[(reset, reset_delay)]
    lif = sf.Leaky(beta=0.5, threshold=1.0, reset=reset, reset_delay=reset_delay)
    spikes, trace = lif(_const(0.75, 6).to(dtype), record=True)
    assert _flat(spikes) == spikes_exp
    assert _flat(trace.v) == v_exp
    _, final = lif(_const(0.75, 6).to(dtype))
    assert float(final.v) == v_exp[-1]


def test_leaky_threshold_is_strict() -> None:
    """v == threshold does not fire: S = H(v - thr) with H(0) = 0."""
    lif = sf.Leaky(beta=0.5, threshold=1.0)
    spikes, trace = lif(torch.tensor([[[1.0]], [[0.5]]]), record=True)
    assert _flat(trace.v) == [1.0, 1.0]
    assert _flat(spikes) == [0.0, 0.0]


def test_leaky_threshold_scales_reset() -> None:
    """Subtract reset removes the threshold (2.0), not 1."""
    lif = sf.Leaky(beta=0.5, threshold=2.0, reset_delay=True)
    spikes, trace = lif(_const(1.5, 4), record=True)
    # 1.5, 2.25 (spike), 1.125 + 1.5 - 2 = 0.625, 0.3125 + 1.5 = 1.8125
    assert _flat(spikes) == [0, 1, 0, 0]
    assert _flat(trace.v) == [1.5, 2.25, 0.625, 1.8125]


def test_leaky_graded_spikes() -> None:
    lif = sf.Leaky(beta=0.5, graded_spikes=2.5)
    spikes, trace = lif(_const(0.75, 6), record=True)
    assert _flat(spikes) == [0, 2.5, 0, 0, 2.5, 0]
    assert _flat(trace.v) == LEAKY_CASES[("subtract", True)][1], "graded output must not change the dynamics"


def test_leaky_per_neuron_beta_and_threshold() -> None:
    lif = sf.Leaky(beta=torch.tensor([0.5, 0.0, 1.0]), threshold=torch.tensor([1.0, 0.5, 2.0]), reset="none")
    _, trace = lif(_const(0.75, 3, (2, 3)), record=True)
    expected = torch.tensor([[0.75, 0.75, 0.75], [1.125, 0.75, 1.5], [1.3125, 0.75, 2.25]])
    for b in range(2):
        assert torch.equal(trace.v[:, b], expected)


def test_if_has_no_leak() -> None:
    # v: 0.375, 0.75, 1.125 (spike), 1.5 - 1 = 0.5, 0.875, 1.25 (spike), 1.625 - 1 = 0.625
    neuron = sf.IF(threshold=1.0)
    spikes, trace = neuron(_const(0.375, 7), record=True)
    assert _flat(spikes) == [0, 0, 1, 0, 0, 1, 0]
    assert _flat(trace.v) == [0.375, 0.75, 1.125, 0.5, 0.875, 1.25, 0.625]


def test_if_rejects_beta() -> None:
    with pytest.raises(TypeError, match="beta"):
        sf.IF(beta=0.5)  # type: ignore[call-arg]


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_synaptic_constant_input(reset: str) -> None:
    alpha, beta, x = 0.5, 0.75, 0.5
    i = v = 0.0
    spikes_exp, v_exp, i_exp = [], [], []
    for _ in range(8):
        r = 1.0 if v > 1.0 and reset != "none" else 0.0
        i = alpha * i + x
        v = beta * v + i
        v = v - r if reset == "subtract" else v * (1 - r)
        spikes_exp.append(1.0 if v > 1.0 else 0.0)
        v_exp.append(v)
        i_exp.append(i)
    assert sum(spikes_exp) >= 2, "the case must exercise the reset"
    neuron = sf.Synaptic(alpha=alpha, beta=beta, reset=reset)
    spikes, trace = neuron(_const(x, 8).double(), record=True)
    assert _flat(spikes) == spikes_exp
    assert _flat(trace.v) == pytest.approx(v_exp, abs=1e-12)
    assert _flat(trace.i) == pytest.approx(i_exp, abs=1e-12)


def test_synaptic_first_steps_literal() -> None:
    # i: 0.5, 0.75, 0.875; v: 0.5, 0.375 + 0.75 = 1.125 (spike), 0.84375 + 0.875 - 1 = 0.71875
    neuron = sf.Synaptic(alpha=0.5, beta=0.75)
    spikes, trace = neuron(_const(0.5, 3), record=True)
    assert _flat(trace.i) == [0.5, 0.75, 0.875]
    assert _flat(trace.v) == [0.5, 1.125, 0.71875]
    assert _flat(spikes) == [0, 1, 0]


def test_lapicque_rc_euler() -> None:
    # R = 2, C = 4, dt = 1: v[t] = (1 - 1/8) v[t-1] + (1/4) x[t]; x = 2 -> +0.5 per step.
    # 0.5, 0.9375, 1.3203125 (spike), 1.155273.. + 0.5 - 1 = 0.6552734375
    neuron = sf.Lapicque(R=2.0, C=4.0, time_step=1.0)
    spikes, trace = neuron(_const(2.0, 4), record=True)
    assert _flat(trace.v) == [0.5, 0.9375, 1.3203125, 0.6552734375]
    assert _flat(spikes) == [0, 0, 1, 0]


def test_lapicque_time_step_and_beta() -> None:
    """With beta given, R = 1 and C = dt / ln(1/beta): decay 1 - ln(1/beta), gain ln(1/beta)."""
    beta, dt = 0.8, 0.5
    neuron = sf.Lapicque(beta=beta, time_step=dt, reset="none")
    _, trace = neuron(_const(1.0, 3).double(), record=True)
    c = dt / math.log(1 / beta)
    decay, gain = 1 - dt / c, dt / c
    v, expected = 0.0, []
    for _ in range(3):
        v = decay * v + gain * 1.0
        expected.append(v)
    assert _flat(trace.v) == pytest.approx(expected, rel=1e-6)


def test_lapicque_zero_reset_clears_input_too() -> None:
    # R = 1, C = 1, dt = 0.5: v = 0.5 v + 0.5 x; x = 2.5 -> 1.25 (spike); next step (0.625 + 1.25) * 0 = 0.
    neuron = sf.Lapicque(R=1.0, C=1.0, time_step=0.5, reset="zero")
    spikes, trace = neuron(_const(2.5, 3), record=True)
    assert _flat(trace.v) == [1.25, 0.0, 1.25]
    assert _flat(spikes) == [1, 0, 1]


def test_li_is_leaky_integral() -> None:
    li = sf.LI(beta=0.5)
    out, trace = li(torch.tensor([[[1.0]], [[0.0]], [[2.0]], [[0.0]]]), record=True)
    assert _flat(out) == [1.0, 0.5, 2.25, 1.125]
    assert torch.equal(out, trace.v)


def test_li_with_synaptic_current() -> None:
    li = sf.LI(beta=0.5, alpha=0.5)
    out, trace = li(torch.tensor([[[1.0]], [[0.0]], [[0.0]]]), record=True)
    # i: 1, 0.5, 0.25; v: 1, 1.0, 0.75
    assert _flat(trace.i) == [1.0, 0.5, 0.25]
    assert _flat(out) == [1.0, 1.0, 0.75]


def test_adaptive_threshold_rises_and_decays() -> None:
    """a[t] = rho a[t-1] + adaptation z[t-1]; threshold thr + a; subtract reset removes b[t-1]."""
    beta, rho, adapt, thr = 0.5, 0.5, 0.5, 1.0
    xs = [1.5, 0.0, 1.25, 1.25, 0.0, 0.0, 0.0, 0.0]
    v = a = z = 0.0
    b_prev = thr
    exp_s, exp_v, exp_a = [], [], []
    for x in xs:
        a_new = rho * a + adapt * z
        b = thr + a_new
        v = beta * v + x - z * b_prev
        z_new = 1.0 if v > b else 0.0
        exp_s.append(z_new)
        exp_v.append(v)
        exp_a.append(a_new)
        a, z, b_prev = a_new, z_new, b
    neuron = sf.AdaptiveLeaky(beta=beta, rho=rho, adaptation=adapt, threshold=thr)
    spikes, trace = neuron(torch.tensor(xs).reshape(-1, 1, 1), record=True)
    assert _flat(spikes) == exp_s
    assert _flat(trace.v) == exp_v
    assert _flat(trace.a) == exp_a
    # Literal check of the key facts: one spike at t=0 raises a by 0.5, then it halves.
    assert exp_s[0] == 1.0
    assert exp_a[:3] == [0.0, 0.5, 0.25]
    # At t=2, v = 1.125 is above the base threshold 1 but below the raised one 1.25: no spike.
    assert exp_v[2] == 1.125 and exp_s[2] == 0.0 and exp_s[3] == 1.0
    assert exp_a[-1] < exp_a[-2] < exp_a[-3], "adaptation decays back once spiking stops"


def test_adaptive_with_zero_adaptation_is_leaky() -> None:
    x = torch.randn(12, 3, 4, generator=torch.Generator().manual_seed(0)) + 0.5
    s_ad, st_ad = sf.AdaptiveLeaky(beta=0.8, rho=0.9, adaptation=0.0)(x)
    s_lk, st_lk = sf.Leaky(beta=0.8)(x)
    assert torch.equal(s_ad, s_lk)
    assert torch.equal(st_ad.v, st_lk.v)


def test_rleaky_one_to_one() -> None:
    """v[t] = beta v[t-1] + x[t] + V s[t-1] - R[t] thr with V = -0.5 (self-inhibition)."""
    beta, V = 0.5, -0.5
    xs = [1.25, 0.5, 0.75, 1.0, 0.25]
    v = s = 0.0
    exp_s, exp_v = [], []
    for x in xs:
        r = 1.0 if v > 1.0 else 0.0
        v = beta * v + x + V * s - r
        s = 1.0 if v > 1.0 else 0.0
        exp_s.append(s)
        exp_v.append(v)
    neuron = sf.RLeaky(beta=beta, V=V, all_to_all=False)
    spikes, trace = neuron(torch.tensor(xs).reshape(-1, 1, 1), record=True)
    assert _flat(spikes) == exp_s
    assert _flat(trace.v) == exp_v
    assert torch.equal(trace.s, spikes)
    assert exp_v[:3] == [1.25, 0.625 + 0.5 - 0.5 - 1, -0.1875 + 0.75]


def test_rleaky_all_to_all_uses_linear() -> None:
    neuron = sf.RLeaky(beta=0.5, linear_features=2, reset="none")
    with torch.no_grad():
        neuron.recurrent.weight.copy_(torch.tensor([[0.0, 1.0], [0.5, 0.0]]))
        neuron.recurrent.bias.copy_(torch.tensor([0.25, 0.0]))
    x = torch.tensor([[[1.5, 0.0]], [[0.0, 0.0]]])
    spikes, trace = neuron(x, record=True)
    # t0: v = [1.5 + 0.25, 0 + 0] -> s = [1, 0]; t1: v = [0.875 + 0 + 0.25, 0 + 0.5]
    assert trace.v[0].tolist() == [[1.75, 0.0]]
    assert trace.v[1].tolist() == [[1.125, 0.5]]
    assert spikes[:, 0].tolist() == [[1.0, 0.0], [1.0, 0.0]]


def test_rsynaptic_one_to_one() -> None:
    alpha, beta, V = 0.5, 0.5, 0.25
    xs = [1.5, 0.0, 0.5, 0.5]
    i = v = s = 0.0
    exp_s, exp_v, exp_i = [], [], []
    for x in xs:
        r = 1.0 if v > 1.0 else 0.0
        i = alpha * i + x + V * s
        v = beta * v + i - r
        s = 1.0 if v > 1.0 else 0.0
        exp_s.append(s)
        exp_v.append(v)
        exp_i.append(i)
    spikes, trace = sf.RSynaptic(alpha=alpha, beta=beta, V=V, all_to_all=False)(
        torch.tensor(xs).reshape(-1, 1, 1), record=True
    )
    assert _flat(spikes) == exp_s
    assert _flat(trace.v) == exp_v
    assert _flat(trace.i) == exp_i


def test_alpha_zero_reset_literal() -> None:
    """alpha = 0.5, beta = 0.25: tau_a = ln .5 / (ln .25 - ln .5) + 1 = 2."""
    x = torch.tensor([2.0, 0.0, 0.0, 0.0]).reshape(-1, 1, 1).double()
    spikes, trace = sf.Alpha(alpha=0.5, beta=0.25, reset="zero")(x, record=True)
    # i_exc: 2, 1, .5 ; i_inh: -2, -.5, -.125 ; v = 2 (i_exc + i_inh): 0, 1.0, 0.75
    assert _flat(trace.i_exc)[:3] == pytest.approx([2.0, 1.0, 0.5])
    assert _flat(trace.i_inh)[:3] == pytest.approx([-2.0, -0.5, -0.125])
    assert _flat(trace.v)[:3] == pytest.approx([0.0, 1.0, 0.75])
    assert _flat(spikes) == [0, 0, 0, 0]


def test_alpha_subtract_reset_hand_loop() -> None:
    alpha, beta, thr = 0.75, 0.5, 0.5
    tau = math.log(alpha) / (math.log(beta) - math.log(alpha)) + 1
    xs = [2.0, 1.0, 0.0, 1.5, 0.0, 0.0]
    ie = ii = v = 0.0
    exp_s, exp_v = [], []
    for x in xs:
        r = 1.0 if v > thr else 0.0
        ie_new = alpha * ie + x - r * thr
        ii_new = (beta * ii - x) * (1 - r)
        v = tau * (alpha * ie + x + beta * ii - x) + r * ii
        ie, ii = ie_new, ii_new
        exp_s.append(1.0 if v > thr else 0.0)
        exp_v.append(v)
    assert sum(exp_s) >= 1
    spikes, trace = sf.Alpha(alpha=alpha, beta=beta, threshold=thr, reset="subtract")(
        torch.tensor(xs, dtype=torch.float64).reshape(-1, 1, 1), record=True
    )
    assert _flat(spikes) == exp_s
    assert _flat(trace.v) == pytest.approx(exp_v, abs=1e-6)


@pytest.mark.parametrize("tau, dt", [(5.0, 1.0), (20.0, 0.5), (2.0, 2.0)])
def test_time_constant_gives_exact_exponential_decay(tau: float, dt: float) -> None:
    lif = sf.Leaky(tau_mem=tau, dt=dt)
    assert float(lif.beta) == pytest.approx(math.exp(-dt / tau), rel=1e-7)
    syn = sf.Synaptic(tau_syn=tau / 2, tau_mem=tau, dt=dt)
    assert float(syn.alpha) == pytest.approx(math.exp(-dt / (tau / 2)), rel=1e-7)
    assert float(syn.beta) == pytest.approx(math.exp(-dt / tau), rel=1e-7)
    # Free decay of a single kick: v[t] = exp(-t dt / tau).
    x = torch.zeros(5, 1, 1, dtype=torch.float64)
    x[0] = 0.5
    _, trace = sf.Leaky(tau_mem=tau, dt=dt, reset="none")(x, record=True)
    expected = [0.5 * float(lif.beta) ** t for t in range(5)]
    assert _flat(trace.v) == pytest.approx(expected, rel=1e-12)


def test_li_time_constant() -> None:
    li = sf.LI(tau_mem=4.0, dt=1.0)
    assert float(li.beta) == pytest.approx(math.exp(-0.25), rel=1e-7)


def test_per_neuron_time_constants() -> None:
    lif = sf.Leaky(tau_mem=torch.tensor([1.0, 2.0, 4.0]), dt=1.0)
    assert lif.beta.tolist() == pytest.approx([math.exp(-1), math.exp(-0.5), math.exp(-0.25)], rel=1e-7)
