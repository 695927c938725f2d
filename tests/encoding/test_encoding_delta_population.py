"""Delta code hand cases and population (Gaussian receptive field) code."""

import math

import pytest
import torch

from spikeflow import encoding as E


def test_delta_on_spikes_zero_start():
    x = torch.tensor([1.0, 2.0, 2.5, 3.0, 4.0])
    assert E.delta(x, threshold=1.0).tolist() == [1, 1, 0, 0, 1]  # first step compared to 0
    assert E.delta(x, threshold=1.0, padding=True).tolist() == [0, 1, 0, 0, 1]


def test_delta_off_spikes():
    x = torch.tensor([1.0, 2.0, 0.0, 2.0, 2.5, 1.5])
    assert E.delta(x, threshold=1.0, off_spikes=True).tolist() == [1, 1, -1, 1, 0, -1]
    assert E.delta(x, threshold=1.0, off_spikes=True, padding=True).tolist() == [0, 1, -1, 1, 0, -1]
    assert E.delta(x, threshold=1.0).tolist() == [1, 1, 0, 1, 0, 0]  # no -1 without off_spikes


def test_delta_is_elementwise_over_trailing_dims():
    x = torch.tensor([[0.0, 5.0], [0.5, 4.0], [0.5, 4.0]])  # [T=3, 2]
    assert E.delta(x, threshold=0.5, off_spikes=True).tolist() == [[0, 1], [1, -1], [0, 0]]


def test_population_peaks_at_nearest_centre():
    values = torch.tensor([0.0, 0.26, 0.5, 0.74, 1.0, 0.12])
    intensity = E.population(values, num_neurons=5, low=0.0, high=1.0)  # centres 0, .25, .5, .75, 1
    assert intensity.shape == (6, 5)
    assert intensity.argmax(-1).tolist() == [0, 1, 2, 3, 4, 0]
    # exact value: sigma = spacing = 0.25, neuron 1 at v=0.5 is one sigma away
    assert intensity[2, 1].item() == pytest.approx(math.exp(-0.5))
    assert intensity[2, 2].item() == pytest.approx(1.0)
    assert bool(((intensity >= 0) & (intensity <= 1)).all())


def test_population_sigma_gain_and_spikes():
    v = torch.tensor([[2.0]])
    i = E.population(v, num_neurons=3, low=0.0, high=4.0, sigma=1.0, gain=0.5)  # centres 0, 2, 4
    torch.testing.assert_close(i, 0.5 * torch.tensor([[[math.exp(-2), 1.0, math.exp(-2)]]]))
    g = torch.Generator().manual_seed(0)
    spikes = E.population(v, num_neurons=3, low=0.0, high=4.0, sigma=1.0, num_steps=4000, generator=g)
    assert spikes.shape == (4000, 1, 1, 3)
    torch.testing.assert_close(spikes.mean(0)[0, 0], torch.tensor([math.exp(-2), 1.0, math.exp(-2)]), atol=0.03, rtol=0)


def test_population_single_neuron_sits_in_the_middle():
    i = E.population(torch.tensor([1.0, 3.0]), num_neurons=1, low=0.0, high=2.0)
    torch.testing.assert_close(i[:, 0], torch.tensor([1.0, math.exp(-0.5)]))  # centre 1, sigma 2
