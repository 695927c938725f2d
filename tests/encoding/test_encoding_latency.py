"""Latency code: hand-computed spike times (log, linear, normalize, clip, first_spike_time)."""

import math

import pytest
import torch

from spikeflow import encoding as E


def spike_steps(spikes: torch.Tensor) -> list:
    """Step of the single spike of each element of a [T, N] train, None when silent."""
    out = []
    for n in range(spikes.shape[1]):
        idx = spikes[:, n].nonzero().flatten().tolist()
        assert len(idx) <= 1, "a latency code fires at most once per element"
        out.append(idx[0] if idx else None)
    return out


def test_log_times_follow_rc_charging():
    x = torch.tensor([1.0, 0.5, 0.02, 0.01, 0.0], dtype=torch.float64)
    t = E.latency_times(x, tau=2.0, threshold=0.01)
    expected = [2 * math.log(1 / 0.99), 2 * math.log(0.5 / 0.49), 2 * math.log(2.0)]
    torch.testing.assert_close(t[:3], torch.tensor(expected, dtype=torch.float64))
    assert math.isinf(t[3]) and math.isinf(t[4])  # x <= threshold never reaches it


def test_log_spikes_hand_case():
    # tau=10, threshold=0.5: t = 10 ln(x / (x - 0.5)); x=1 -> 6.93 -> step 7; x=0.9 -> 8.11 -> 8;
    # x=0.8 -> 9.81 -> 10; x=0.3 sub-threshold -> last step 11 (clip=False)
    x = torch.tensor([1.0, 0.9, 0.8, 0.3])
    spikes = E.latency(x, num_steps=12, tau=10.0, threshold=0.5)
    assert spikes.shape == (12, 4)
    assert spike_steps(spikes) == [7, 8, 10, 11]
    assert spike_steps(E.latency(x, num_steps=12, tau=10.0, threshold=0.5, clip=True)) == [7, 8, 10, None]


def test_linear_hand_case_and_first_spike_time():
    # t = s + tau (1 - x) with tau=8, s=2: x=1 -> 2, 0.5 -> 6, 0.25 -> 8; x=0.1 <= threshold -> last (10)
    x = torch.tensor([1.0, 0.5, 0.25, 0.1])
    spikes = E.latency(x, num_steps=11, tau=8.0, threshold=0.1, linear=True, first_spike_time=2)
    assert spike_steps(spikes) == [2, 6, 8, 10]


def test_linear_normalize_spans_the_window():
    # t = s + (L - s)(1 - x)/(1 - θ), L = 9, s = 1, θ = 0.2: x=1 -> 1, x=0.6 -> 5, x=0.2 -> sub -> 9
    x = torch.tensor([1.0, 0.6, 0.2, 0.0])
    t = E.latency_times(x, num_steps=10, threshold=0.2, linear=True, normalize=True, first_spike_time=1)
    torch.testing.assert_close(t, torch.tensor([1.0, 5.0, 9.0, 9.0]))
    spikes = E.latency(x, num_steps=10, threshold=0.2, linear=True, normalize=True, first_spike_time=1, clip=True)
    assert spike_steps(spikes) == [1, 5, None, None]


def test_log_normalize_maps_one_to_first_and_threshold_to_last():
    thr, eps, T = 0.1, 0.1, 21
    g = lambda v: math.log(v / (v - thr))  # noqa: E731
    x = torch.tensor([1.0, 0.5, 0.2, 0.15], dtype=torch.float64)
    t = E.latency_times(x, num_steps=T, threshold=thr, normalize=True, epsilon=eps)
    expected = [0.0, 20 * (g(0.5) - g(1)) / (g(0.2) - g(1)), 20.0, 20.0]  # 0.15 < θ+ε clamps to the last step
    torch.testing.assert_close(t, torch.tensor(expected, dtype=torch.float64))
    # normalization uses fixed bounds: an element's time does not depend on the rest of the batch
    alone = E.latency_times(x[1:2], num_steps=T, threshold=thr, normalize=True, epsilon=eps)
    torch.testing.assert_close(alone, t[1:2])


def test_one_spike_per_element_any_shape():
    x = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(0))
    spikes = E.latency(x, num_steps=15, normalize=True, linear=True)
    assert spikes.shape == (15, 3, 4, 5)
    assert torch.equal(spikes.sum(0), torch.ones(3, 4, 5))
    # brighter input fires no later
    order = x.flatten().argsort()
    first = spikes.argmax(0).flatten()[order]
    assert bool((first[1:] <= first[:-1]).all())


def test_late_spikes_raise_or_are_dropped_with_bypass():
    x = torch.tensor([1.0, 0.02])  # tau=10, threshold=0.01: times 10 ln(1/0.99) = 0.1 and 10 ln 2 = 6.93
    with pytest.raises(ValueError, match="num_steps"):
        E.latency(x, num_steps=5, tau=10.0)
    spikes = E.latency(x, num_steps=5, tau=10.0, bypass=True)
    assert spike_steps(spikes) == [0, None]
    sized = E.latency(x, num_steps=None, tau=10.0, bypass=True)
    assert sized.shape[0] == 8 and spike_steps(sized) == [0, 7]


def test_times_and_spikes_agree():
    x = torch.rand(50, generator=torch.Generator().manual_seed(4))
    t = E.latency_times(x, num_steps=30, tau=5.0, normalize=True, clip=True)
    spikes = E.latency(x, num_steps=30, tau=5.0, normalize=True, clip=True)
    fired = torch.isfinite(t)
    assert torch.equal(spikes.sum(0).bool(), fired)
    assert torch.equal(spikes.argmax(0)[fired], torch.round(t[fired]).long())
