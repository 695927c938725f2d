"""STDP and reward-modulated STDP against closed forms (learning.md 2.1) and brute-force sums."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.online import STDP, RewardSTDP

TAU_PRE, TAU_POST, A_PLUS, A_MINUS = 7.0, 13.0, 0.03, 0.02
W0, W_MIN, W_MAX = 0.3, -0.5, 1.5


def _pair(delay: int, steps: int = 50, t_pre: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    pre = torch.zeros(steps, 1, 1, dtype=torch.float64)
    post = torch.zeros(steps, 1, 1, dtype=torch.float64)
    pre[t_pre, 0, 0] = 1.0
    post[t_pre + delay, 0, 0] = 1.0
    return pre, post


def _closed_form(d: int, bounds: str) -> float:
    """One pre spike at t, one post at t + d (learning.md 2.1): lambda = exp(-1/tau)."""
    f_post, f_pre = (1.0, 1.0) if bounds == "additive" else (W_MAX - W0, W0 - W_MIN)
    if d > 0:
        return A_PLUS * f_post * math.exp(-d / TAU_PRE)
    if d < 0:
        return -A_MINUS * f_pre * math.exp(d / TAU_POST)
    return A_PLUS * f_post - A_MINUS * f_pre


def _layer() -> nn.Linear:
    layer = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(W0)
    return layer


@pytest.mark.parametrize("pairing", ["all_to_all", "nearest"])
@pytest.mark.parametrize("bounds", ["additive", "multiplicative"])
@pytest.mark.parametrize("update", ["inplace", "grad"])
def test_window_every_delay_matches_closed_form(pairing: str, bounds: str, update: str) -> None:
    for d in range(-20, 21):
        layer = _layer()
        stdp = STDP(layer, tau_pre=TAU_PRE, tau_post=TAU_POST, a_plus=A_PLUS, a_minus=A_MINUS,
                    pairing=pairing, bounds=bounds, w_min=W_MIN, w_max=W_MAX, update=update)
        stdp.sequence(*_pair(d))
        got = (layer.weight.item() - W0) if update == "inplace" else -layer.weight.grad.item()
        assert got == pytest.approx(_closed_form(d, bounds), rel=1e-12, abs=1e-15), (d, pairing, bounds)


@pytest.mark.parametrize("pairing, expected_ltp", [
    ("all_to_all", math.exp(-5 / TAU_PRE) + math.exp(-2 / TAU_PRE)),  # both earlier pre spikes pair
    ("nearest", math.exp(-2 / TAU_PRE)),                               # only the nearest one
])
def test_pairing_schemes_differ_on_spike_trains(pairing: str, expected_ltp: float) -> None:
    pre = torch.zeros(12, 1, 1, dtype=torch.float64)
    post = torch.zeros(12, 1, 1, dtype=torch.float64)
    pre[0] = pre[3] = 1.0
    post[5] = 1.0
    pre[9] = 1.0   # after the post spike: depression by the post trace, 4 steps old
    layer = _layer()
    STDP(layer, tau_pre=TAU_PRE, tau_post=TAU_POST, a_plus=A_PLUS, a_minus=A_MINUS, pairing=pairing,
         update="grad").sequence(pre, post)
    expected = A_PLUS * expected_ltp - A_MINUS * math.exp(-4 / TAU_POST)
    assert -layer.weight.grad.item() == pytest.approx(expected, rel=1e-12)


def test_additive_inplace_clips_to_bounds() -> None:
    layer = _layer()
    stdp = STDP(layer, a_plus=5.0, a_minus=0.0, w_min=W_MIN, w_max=W_MAX)
    stdp.sequence(*_pair(1))
    assert layer.weight.item() == W_MAX


def test_grad_mode_with_sgd_equals_inplace(gen: torch.Generator) -> None:
    pre = (torch.rand(30, 4, 6, generator=gen) < 0.3).double()
    post = (torch.rand(30, 4, 5, generator=gen) < 0.3).double()
    a, b = nn.Linear(6, 5).double(), nn.Linear(6, 5).double()
    b.load_state_dict(a.state_dict())
    kw = dict(bounds="multiplicative", w_min=-1.0, w_max=1.0, pairing="nearest")
    STDP(a, **kw).sequence(pre, post)              # weight updated every step (f(W) follows W)
    learner = STDP(b, update="grad", **kw)
    opt = torch.optim.SGD([b.weight], lr=1.0)
    state = None
    for t in range(30):
        opt.zero_grad()
        state = learner.step(pre[t], post[t], state)
        opt.step()
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=1e-14)


def _brute_linear(pre: torch.Tensor, post: torch.Tensor, decay_pre: float, decay_post: float) -> torch.Tensor:
    """sum_t sum_b (s_post x_pre - x_post s_pre) with explicit loops over synapses."""
    steps, batch, n_in = pre.shape
    n_out = post.shape[2]
    dw = torch.zeros(n_out, n_in, dtype=pre.dtype)
    for o in range(n_out):
        for i in range(n_in):
            for b in range(batch):
                x_pre = x_post = 0.0
                for t in range(steps):
                    x_pre = decay_pre * x_pre + float(pre[t, b, i])
                    x_post = decay_post * x_post + float(post[t, b, o])
                    dw[o, i] += A_PLUS * float(post[t, b, o]) * x_pre - A_MINUS * x_post * float(pre[t, b, i])
    return dw


def test_linear_batch_matches_brute_force(gen: torch.Generator) -> None:
    pre = (torch.rand(15, 3, 4, generator=gen) < 0.4).double()
    post = (torch.rand(15, 3, 2, generator=gen) < 0.4).double()
    layer = nn.Linear(4, 2).double()
    STDP(layer, tau_pre=TAU_PRE, tau_post=TAU_POST, a_plus=A_PLUS, a_minus=A_MINUS, update="grad").sequence(pre, post)
    expected = _brute_linear(pre, post, math.exp(-1 / TAU_PRE), math.exp(-1 / TAU_POST))
    torch.testing.assert_close(-layer.weight.grad, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_matches_brute_force(gen: torch.Generator) -> None:
    conv = nn.Conv2d(2, 3, kernel_size=3, stride=2, padding=1).double()
    pre = (torch.rand(6, 2, 2, 7, 7, generator=gen) < 0.4).double()
    out_hw = conv(pre[0]).shape[-2:]
    post = (torch.rand(6, 2, 3, *out_hw, generator=gen) < 0.4).double()
    STDP(conv, tau_pre=TAU_PRE, tau_post=TAU_POST, a_plus=A_PLUS, a_minus=A_MINUS, update="grad").sequence(pre, post)
    # brute force: unfold the (zero-padded) presynaptic traces into patches, one per output position
    dp, dq = math.exp(-1 / TAU_PRE), math.exp(-1 / TAU_POST)
    expected = torch.zeros_like(conv.weight)
    x_pre = torch.zeros_like(pre[0])
    x_post = torch.zeros_like(post[0])
    pad = nn.functional.pad
    for t in range(6):
        x_pre, x_post = dp * x_pre + pre[t], dq * x_post + post[t]
        xp, sp = pad(x_pre, (1, 1, 1, 1)), pad(pre[t], (1, 1, 1, 1))
        for b in range(2):
            for o in range(3):
                for y in range(out_hw[0]):
                    for x in range(out_hw[1]):
                        patch_x = xp[b, :, 2 * y : 2 * y + 3, 2 * x : 2 * x + 3]
                        patch_s = sp[b, :, 2 * y : 2 * y + 3, 2 * x : 2 * x + 3]
                        expected[o] += A_PLUS * post[t, b, o, y, x] * patch_x - A_MINUS * x_post[b, o, y, x] * patch_s
    torch.testing.assert_close(-conv.weight.grad, expected, rtol=1e-12, atol=1e-12)


def test_spikes_from_fused_backend_give_the_same_update(gen: torch.Generator) -> None:
    x = (torch.rand(20, 4, 6, generator=gen) < 0.5).float()
    layer = nn.Linear(6, 5)
    with torch.no_grad():
        current = sf.TimeDistributed(layer)(x)
    updates = []
    for backend in ("reference", "cpu"):
        spikes, _ = sf.Leaky(beta=0.8, threshold=0.3, backend=backend)(current)
        probe = nn.Linear(6, 5)
        probe.load_state_dict(layer.state_dict())
        STDP(probe, update="grad").sequence(x, spikes)
        updates.append(probe.weight.grad)
    assert updates[0].abs().sum() > 0
    torch.testing.assert_close(updates[0], updates[1], rtol=0, atol=0)


def test_traces_are_returned_state_not_buffers() -> None:
    layer = nn.Linear(3, 2)
    keys = set(layer.state_dict())
    state = STDP(layer).step(torch.ones(1, 3), torch.ones(1, 2))
    assert set(layer.state_dict()) == keys
    assert state.x_pre.shape == (1, 3) and state.x_post.shape == (1, 2)


def test_bad_input_raises() -> None:
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="pre: expected \\[B, 3\\]"):
        STDP(layer).step(torch.ones(1, 4), torch.ones(1, 2))
    with pytest.raises(ValueError, match="post"):
        STDP(layer).step(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="w_min and w_max"):
        STDP(layer, bounds="multiplicative")
    with pytest.raises(ValueError, match="pairing"):
        STDP(layer, pairing="nearest_neighbour")
    with pytest.raises(TypeError, match="nn.Linear or nn.Conv2d"):
        STDP(sf.Leaky(beta=0.9))


# -- reward-modulated -------------------------------------------------------------------
def test_mstdp_with_unit_reward_equals_stdp(gen: torch.Generator) -> None:
    pre = (torch.rand(20, 3, 4, generator=gen) < 0.4).double()
    post = (torch.rand(20, 3, 2, generator=gen) < 0.4).double()
    a, b = nn.Linear(4, 2).double(), nn.Linear(4, 2).double()
    STDP(a, update="grad").sequence(pre, post)
    RewardSTDP(b, update="grad").sequence(pre, post, reward=torch.ones(20, dtype=torch.float64))
    torch.testing.assert_close(a.weight.grad, b.weight.grad, rtol=1e-12, atol=1e-14)


def test_mstdp_et_delayed_reward_closed_form() -> None:
    """pre at 2, post at 5, reward r at 9: dW = r a_plus lambda_pre^3 lambda_e^4."""
    pre, post = _pair(3, steps=12, t_pre=2)
    layer = _layer()
    tau_e = 9.0
    rstdp = RewardSTDP(layer, tau_pre=TAU_PRE, tau_post=TAU_POST, a_plus=A_PLUS, a_minus=A_MINUS,
                       tau_eligibility=tau_e, update="grad")
    state = None
    for t in range(10):
        state = rstdp.step(pre[t], post[t], state)
    rstdp.reward(state, 2.0)
    expected = 2.0 * A_PLUS * math.exp(-3 / TAU_PRE) * math.exp(-4 / tau_e)
    assert -layer.weight.grad.item() == pytest.approx(expected, rel=1e-12)


def test_per_sample_rewards_weight_each_sample() -> None:
    pre, post = _pair(2, steps=6, t_pre=1)
    pre2 = torch.cat([pre, pre], dim=1)
    post2 = torch.cat([post, torch.zeros_like(post)], dim=1)   # sample 1 has no post spike
    layer = _layer()
    rstdp = RewardSTDP(layer, tau_pre=TAU_PRE, a_plus=A_PLUS, tau_eligibility=5.0, update="grad")
    state = rstdp.sequence(pre2, post2)
    rstdp.reward(state, torch.tensor([-1.0, 10.0], dtype=torch.float64))
    expected = -1.0 * A_PLUS * math.exp(-2 / TAU_PRE) * math.exp(-2 / 5.0)
    assert -layer.weight.grad.item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="reward"):
        rstdp.reward(state, torch.ones(3))
