"""Spike statistics: firing_rate, sparsity, spike_count, pool_population."""

import pytest
import torch

from spikeflow import metrics as M


def test_firing_rate_mean_over_time_and_batch():
    s = torch.zeros(4, 2, 3)
    s[:, 0, 0] = 1  # neuron 0 fires every step in one of two samples -> 0.5
    s[0, :, 2] = 1  # neuron 2 fires once per sample in 4 steps -> 0.25
    assert M.firing_rate(s).tolist() == [0.5, 0.0, 0.25]


def test_spike_count_sums_time_per_sample():
    s = torch.zeros(4, 2, 3)
    s[:3, 1, 2] = 1
    assert M.spike_count(s).tolist() == [[0, 0, 0], [0, 0, 3]]


def test_sparsity_fraction_of_zeros():
    s = torch.zeros(2, 2, 5)
    s[0, 0, :2] = 1
    assert M.sparsity(s).item() == pytest.approx(1 - 2 / 20)
    assert M.sparsity(s.bool()).item() == pytest.approx(0.9)


def test_statistics_on_conv_shapes_and_dtypes():
    s = torch.ones(3, 2, 4, 5, 5, dtype=torch.float64)
    assert M.firing_rate(s).shape == (4, 5, 5) and M.firing_rate(s).dtype == torch.float64
    assert M.spike_count(s).shape == (2, 4, 5, 5)
    assert M.firing_rate(s.bool()).dtype == torch.float32


def test_pool_population_sum_and_mean():
    x = torch.arange(6.0).view(1, 6)
    assert M.pool_population(x, 2).tolist() == [[3.0, 12.0]]
    assert M.pool_population(x, 3, "mean").tolist() == [[0.5, 2.5, 4.5]]
    assert M.pool_population(x).tolist() == x.tolist()


def test_statistics_bad_input():
    with pytest.raises(ValueError, match=r"spikes: expected a time-major tensor of shape \[T, B, \.\.\.\]"):
        M.firing_rate(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="spikes"):
        M.spike_count(torch.zeros(5))
    with pytest.raises(TypeError, match="spikes: expected a torch.Tensor"):
        M.sparsity([0, 1])
