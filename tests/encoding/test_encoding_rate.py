"""Rate code: firing statistics, clipping, time-varying input."""

import pytest
import torch

from spikeflow import encoding as E


def test_mean_firing_matches_probability():
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    spikes = E.rate(p, num_steps=4000, generator=g)
    assert spikes.shape == (4000, 6)
    # binomial std <= sqrt(0.25 / 4000) ~ 0.008; 0.03 is > 3.5 sigma
    torch.testing.assert_close(spikes.mean(0), p, atol=0.03, rtol=0)
    assert spikes[:, 0].sum() == 0 and spikes[:, -1].sum() == 4000  # p=0 never, p=1 always


def test_spikes_are_binary_and_independent_per_step():
    g = torch.Generator().manual_seed(1)
    spikes = E.rate(torch.full((2, 3), 0.5), num_steps=50, generator=g)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(spikes[0], spikes[1]) or not torch.equal(spikes[1], spikes[2])


def test_gain_and_offset_then_clip():
    g = torch.Generator().manual_seed(2)
    x = torch.tensor([0.2, 0.2, 0.9, -3.0])
    # p = clamp(2x - 0.1): 0.3, 0.3, 1 (clipped from 1.7), 0 (clipped from -6.1)
    spikes = E.rate(x, num_steps=3000, gain=2.0, offset=-0.1, generator=g, clip=True)
    rates = spikes.mean(0)
    torch.testing.assert_close(rates[:2], torch.tensor([0.3, 0.3]), atol=0.03, rtol=0)
    assert rates[2] == 1.0 and rates[3] == 0.0


def test_time_varying_uses_one_probability_per_step():
    g = torch.Generator().manual_seed(3)
    T = 6
    probs = torch.zeros(T, 500)
    probs[::2] = 1.0  # always fire on even steps, never on odd ones
    spikes = E.rate(probs, time_varying=True, generator=g)
    assert spikes.shape == (T, 500)
    assert torch.equal(spikes, probs)
    assert torch.equal(E.rate(probs, num_steps=T, time_varying=True), probs)
    with pytest.raises(ValueError, match="num_steps"):
        E.rate(probs, num_steps=T + 1, time_varying=True)


def test_static_input_needs_num_steps():
    with pytest.raises(ValueError, match="num_steps"):
        E.rate(torch.rand(3))


def test_out_of_range_probabilities_raise_unless_clipped():
    pixels = torch.tensor([0.0, 128.0, 255.0])  # the 0..255 scale, a common slip
    with pytest.raises(ValueError, match=r"data: expected gain \* data \+ offset in \[0, 1\].*\[0, 255\]"):
        E.rate(pixels, num_steps=4)
    with pytest.raises(ValueError, match="clip=True"):
        E.rate(torch.tensor([0.5]), num_steps=4, offset=-0.6)
    with pytest.raises(TypeError, match="clip"):
        E.rate(torch.tensor([0.5]), num_steps=4, clip=1)
    assert torch.equal(E.rate(pixels, num_steps=4, clip=True)[:, 1:], torch.ones(4, 2))
