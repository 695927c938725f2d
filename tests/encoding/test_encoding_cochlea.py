"""sf.encoding.cochlea: gammatone filterbank -> rectification -> compression -> Leaky neurons."""

from __future__ import annotations

import math

import pytest
import torch

import spikeflow as sf
from spikeflow.encoding_cochlea import erb_space, gammatone_kernels

SR = 16000


def _tones(freqs, seconds=0.25, amplitude=None):
    t = torch.arange(int(seconds * SR)) / SR
    amps = amplitude or [1.0] * len(freqs)
    return torch.stack([a * torch.sin(2 * math.pi * f * t) for f, a in zip(freqs, amps, strict=True)])


def test_each_tones_most_active_channel_is_the_one_tuned_to_it():
    freqs = [150.0, 300.0, 700.0, 1500.0, 3000.0, 6000.0]
    channels = 40
    cf = erb_space(100.0, min(8000.0, 0.45 * SR), channels)
    spikes = sf.encoding.cochlea(_tones(freqs), SR, channels=channels, gain=1.0, neurons_per_channel=3)
    assert spikes.shape == (50, len(freqs), channels * 3) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    per_channel = spikes.sum(0).reshape(len(freqs), channels, 3).sum(-1)
    for i, f in enumerate(freqs):
        nearest = int((cf - f).abs().argmin())
        best = per_channel[i].max()
        winners = (per_channel[i] == best).nonzero().flatten().tolist()
        assert nearest in winners, (f, cf[winners].tolist(), float(cf[nearest]))
        assert all(abs(w - nearest) <= 1 for w in winners)
        # the best channel's centre frequency is within one ERB of the tone
        assert abs(float(cf[nearest]) - f) < 24.7 * (4.37e-3 * f + 1)
    far = per_channel[0, -5:].sum()  # a 150 Hz tone leaves the top channels silent
    assert far == 0


def test_filter_gain_is_one_at_the_centre_and_lower_an_octave_away():
    cf = torch.tensor([500.0, 2000.0])
    h = gammatone_kernels(cf, SR)
    t = torch.arange(h.shape[1], dtype=torch.float64) / SR

    def gain(k: int, f: float) -> float:
        w = 2 * math.pi * f * t
        return abs(complex((h[k] * torch.cos(w)).sum(), (h[k] * torch.sin(w)).sum()))

    assert gain(0, 500.0) == pytest.approx(1.0, abs=1e-9) and gain(1, 2000.0) == pytest.approx(1.0, abs=1e-9)
    assert gain(0, 1000.0) < 0.1 and gain(1, 1000.0) < 0.1


def test_louder_sound_recruits_higher_threshold_neurons_and_normalize_off_sees_level():
    quiet, loud = _tones([1000.0, 1000.0], amplitude=[0.05, 1.0])
    x = torch.stack([quiet, loud])
    s = sf.encoding.cochlea(x, SR, channels=16, neurons_per_channel=3, normalize=False, gain=8.0)
    counts = s.sum(0).reshape(2, 16, 3).sum(1)  # [sample, neuron rank]
    assert counts[1, 2] > counts[0, 2] and counts[1].sum() > counts[0].sum()
    same = sf.encoding.cochlea(x, SR, channels=16, neurons_per_channel=3)  # unit-RMS normalisation
    assert torch.equal(same[:, 0], same[:, 1])


def test_cochleagram_shape_rectified_and_bad_input():
    e = sf.encoding.cochleagram(torch.randn(2, 1000), SR, channels=8, dt=0.01)
    assert e.shape == (7, 2, 8) and bool((e >= 0).all())  # ceil(1000 / 160) = 7 steps
    with pytest.raises(TypeError, match="waveform"):
        sf.encoding.cochlea(torch.ones(2, 100, dtype=torch.int64), SR)
    with pytest.raises(ValueError, match=r"waveform: expected shape \[B, samples\]"):
        sf.encoding.cochlea(torch.randn(100), SR)
    with pytest.raises(ValueError, match="f_high"):
        sf.encoding.cochlea(torch.randn(1, 100), SR, f_high=9000.0)
    with pytest.raises(ValueError, match="neurons_per_channel"):
        sf.encoding.cochlea(torch.randn(1, 100), SR, neurons_per_channel=0)
