"""EventProp losses: TTFS jump terms, silent-neuron handling and remedy, voltage losses."""

from __future__ import annotations

import math

import pytest
import torch

from spikeflow.exact import (
    bump_silent,
    bump_silent_labels,
    max_voltage_cross_entropy,
    sum_exp_voltage_cross_entropy,
    sum_voltage_cross_entropy,
    ttfs_correct,
    ttfs_cross_entropy,
    ttfs_predict,
)


def test_ttfs_gradient_matches_published_jump_terms():
    t = torch.tensor([[[3.0], [5.0], [4.0]], [[6.0], [2.0], [7.0]]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1, 1])
    tau0, tau1, alpha = 0.5, 6.4, 3e-3
    ttfs_cross_entropy(t, y, tau0=tau0, tau1=tau1, alpha=alpha).backward()
    first = t.detach()[..., 0]
    p = torch.softmax(-first / tau0, 1)
    expect = -(1 / tau0) * p / 2
    for b in range(2):
        expect[b, 1] = ((1 / tau0) * (1 - p[b, 1]) + alpha / tau1 * math.exp(first[b, 1] / tau1)) / 2
    torch.testing.assert_close(t.grad[..., 0], expect)


def test_silent_outputs_get_no_gradient_and_silent_label_is_wrong():
    inf = math.inf
    t = torch.tensor([[[inf], [2.0], [3.0]], [[1.0], [1.0], [inf]]], requires_grad=True)
    y = torch.tensor([0, 1])
    loss = ttfs_cross_entropy(t, y, t_silent=40.0)
    loss.backward()
    assert torch.isfinite(loss) and t.grad[0, 0, 0] == 0 and t.grad[1, 2, 0] == 0
    assert ttfs_correct(t.detach(), y).tolist() == [False, True]  # tie counts as correct
    assert ttfs_predict(torch.full((1, 3, 1), inf)).item() == -1


def test_bump_silent_raises_only_silent_rows():
    w = torch.zeros(3, 2)
    times = torch.tensor([[[1.0], [math.inf], [math.inf]], [[math.inf], [math.inf], [2.0]]])
    assert bump_silent(w, times, 0.5) == 1
    assert w[1].tolist() == [0.5, 0.5] and w[0].abs().sum() == 0 and w[2].abs().sum() == 0


def test_voltage_losses():
    v = torch.zeros(4, 2, 3)
    v[1, 0, 2] = 5.0
    v[3, 1, 0] = 5.0
    y = torch.tensor([2, 0])
    assert max_voltage_cross_entropy(v, y) < 0.02
    assert sum_voltage_cross_entropy(v, y, dt=1.0) < 0.02
    # loss shaping weights early time more: the same voltage counts less late than early
    early, late = torch.zeros(4, 1, 2), torch.zeros(4, 1, 2)
    early[0, 0, 0] = late[3, 0, 0] = 1.0
    lbl = torch.tensor([0])
    assert sum_exp_voltage_cross_entropy(early, lbl) < sum_exp_voltage_cross_entropy(late, lbl)
    with pytest.raises(ValueError, match="labels"):
        max_voltage_cross_entropy(v, torch.tensor([1.0, 2.0]))


def test_silent_label_sample_gives_no_gradient_to_other_outputs():
    # regression: a silent label neuron used to push the other outputs later (CE with t_y = t_silent),
    # which silenced more label neurons until Yin-Yang training collapsed
    inf = math.inf
    t = torch.tensor([[[inf], [2.0], [3.0]], [[4.0], [1.0], [5.0]]], requires_grad=True)
    y = torch.tensor([0, 1])
    loss = ttfs_cross_entropy(t, y, t_silent=40.0)
    loss.backward()
    assert t.grad[0].abs().sum() == 0 and t.grad[1].abs().sum() > 0
    ref = t.detach()[1:].clone().requires_grad_()
    (ttfs_cross_entropy(ref, y[1:], t_silent=40.0) / 2).backward()
    torch.testing.assert_close(t.grad[1], ref.grad[0])
    assert loss.item() > 30  # the silent label still counts in the value (t_silent - 2 ms over tau0)


def test_bump_silent_labels_raises_only_outputs_silent_on_their_own_label():
    inf = math.inf
    w = torch.zeros(3, 2)
    # sample 0: label 0 silent -> bump row 0; sample 1: label 1 fired, row 2 silent but not the label
    times = torch.tensor([[[inf], [1.0], [2.0]], [[3.0], [1.0], [inf]]])
    assert bump_silent_labels(w, times, torch.tensor([0, 1]), 0.5) == 1
    assert w[0].tolist() == [0.5, 0.5] and w[1:].abs().sum() == 0
