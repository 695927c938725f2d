"""The shared firing/reset rules and the step functions, checked by hand on tiny cases."""

from __future__ import annotations

import math

import pytest
import torch

import spikeflow as sf
from spikeflow import functional as F
from spikeflow import surrogate as sg


def atan_slope(u: float, alpha: float = 2.0) -> float:
    """d/du of ATan's surrogate: (alpha / 2) / (1 + (pi / 2 alpha u)^2)."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * u) ** 2)


def test_make_options_defaults_follow_snntorch() -> None:
    opts = F.make_options()
    assert opts.reset == "subtract" and opts.reset_delay is True
    assert opts.surrogate == sg.ATan(alpha=2.0)
    assert opts.detach is True, "delayed reset is detached by default"
    assert F.make_options(reset_delay=False).detach is False, "same-step reset carries gradient by default"
    assert F.make_options(reset_delay=False, detach_reset=True).detach is True
    assert F.make_options(detach_reset=False).detach is False


def test_winner_mask_one_per_sample(gen: torch.Generator) -> None:
    v = torch.tensor([[0.1, 0.9, 0.3], [2.0, -1.0, 1.0]])
    assert F.winner_mask(v).tolist() == [[0, 1, 0], [1, 0, 0]]
    v4 = torch.randn(3, 2, 4, 4, generator=gen)
    mask = F.winner_mask(v4)
    assert mask.shape == v4.shape
    assert mask.reshape(3, -1).sum(1).tolist() == [1.0, 1.0, 1.0]


def test_fire_with_inhibition_keeps_only_largest_crossing() -> None:
    opts = F.make_options(inhibition=True)
    v = torch.tensor([[1.5, 2.5, 0.2], [0.1, 0.2, 0.3]])
    s = F.fire(v, torch.tensor(1.0), opts)
    assert s.tolist() == [[0, 1, 0], [0, 0, 0]]


def test_delayed_reset_signal() -> None:
    v_prev = torch.tensor([0.5, 1.0, 1.5])
    thr = torch.tensor(1.0)
    assert F.delayed_reset_signal(v_prev, thr, F.make_options()).tolist() == [0, 0, 1]
    assert F.delayed_reset_signal(v_prev, thr, F.make_options(reset="none")) is None
    assert F.delayed_reset_signal(v_prev, thr, F.make_options(reset_delay=False)) is None


def test_same_step_reset_rules() -> None:
    v = torch.tensor([1.5, 0.5])
    s = torch.tensor([1.0, 0.0])
    thr = torch.tensor(1.0)
    assert F.same_step_reset(v, s, thr, F.make_options(reset_delay=False)).tolist() == [0.5, 0.5]
    assert F.same_step_reset(v, s, thr, F.make_options(reset="zero", reset_delay=False)).tolist() == [0.0, 0.5]
    assert F.same_step_reset(v, s, thr, F.make_options(reset="none", reset_delay=False)).tolist() == [1.5, 0.5]
    assert F.same_step_reset(v, s, thr, F.make_options(reset_delay=True)) is v


def test_run_steps_record_stacks_every_field() -> None:
    def step(x: torch.Tensor, st: F.SynapticState) -> tuple[torch.Tensor, F.SynapticState]:
        return x * 2, F.SynapticState(st.i + x, st.v - x)

    x = torch.arange(6.0).reshape(3, 2)
    zero = F.SynapticState(torch.zeros(2), torch.zeros(2))
    out, final = F.run_steps(step, x, zero)
    assert torch.equal(out, x * 2)
    assert final.i.tolist() == [6.0, 9.0]
    out_r, trace = F.run_steps(step, x, zero, record=True)
    assert torch.equal(out_r, out)
    assert trace.i.tolist() == [[0, 1], [2, 4], [6, 9]]
    assert torch.equal(trace.v[-1], final.v)


def _two_step_grad(reset_delay: bool, detach_reset: bool | None, x0: float, x1: float = 0.0) -> tuple[float, float]:
    """d v[1] / d x[0] of a Leaky (beta 0.5, thr 1, subtract) and d v[0] / d x[0]."""
    lif = sf.Leaky(beta=0.5, reset_delay=reset_delay, detach_reset=detach_reset, backend="reference")
    x = torch.tensor([[[x0]], [[x1]]], dtype=torch.float64, requires_grad=True)
    _, trace = lif(x, record=True)
    (g1,) = torch.autograd.grad(trace.v[1].sum(), x, retain_graph=True)
    (g0,) = torch.autograd.grad(trace.v[0].sum(), x)
    return float(g1[0]), float(g0[0])


def test_delayed_reset_detached_by_default() -> None:
    # v1 = 0.5 v0 + x1 - R thr with R = H(v0 - 1) detached: dv1/dx0 = 0.5
    assert _two_step_grad(True, None, 1.3)[0] == pytest.approx(0.5)


def test_delayed_reset_attached_carries_surrogate() -> None:
    # dv1/dx0 = 0.5 - thr * sg'(v0 - thr) with v0 = 0.7
    assert _two_step_grad(True, False, 0.7)[0] == pytest.approx(0.5 - atan_slope(-0.3))


def test_same_step_reset_attached_by_default() -> None:
    # v0 = x0 - S0 thr: dv0/dx0 = 1 - sg'(x0 - 1); x0 = 1.2 spikes
    assert _two_step_grad(False, None, 1.2)[1] == pytest.approx(1 - atan_slope(0.2))


def test_same_step_reset_detached_on_request() -> None:
    assert _two_step_grad(False, True, 1.2)[1] == pytest.approx(1.0)


def test_graded_factor_scales_output_not_reset() -> None:
    opts = F.make_options()
    state = F.LeakyState(torch.tensor([1.5, 0.25]))
    out, new = F.leaky_step(torch.tensor([0.0, 0.0]), state, torch.tensor(1.0), torch.tensor(1.0),
                            torch.tensor(3.0), opts)
    # delayed subtract: v = 1.5 - 1 = 0.5 (not 1.5 - 3); no spike now
    assert new.v.tolist() == [0.5, 0.25]
    assert out.tolist() == [0.0, 0.0]
    out2, _ = F.leaky_step(torch.tensor([1.0, 0.0]), F.LeakyState(torch.tensor([0.5, 0.0])), torch.tensor(1.0),
                           torch.tensor(1.0), torch.tensor(3.0), opts)
    assert out2.tolist() == [3.0, 0.0]
