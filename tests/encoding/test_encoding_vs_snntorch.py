"""Agreement with snntorch.spikegen where the semantics match.

Deliberate differences (not tested for equality): a linear code with normalize=True spans
[s, L] with x = threshold at L (snnTorch stops at (L - s)(1 - threshold)); sub-threshold
elements of a linear code fire at the last step (snnTorch: at s + tau (1 - threshold)); a
normalized log code uses fixed bounds so x = 1 lands on first_spike_time (snnTorch scales by
the batch's largest time, the same bounds whenever the batch holds a sub-threshold element);
the dtype follows the input (snnTorch #440); rate_targets' regular trains have
floor(rate*T + 1/2) evenly spaced spikes (snnTorch: a period of round(1/rate)).
"""

import pytest
import torch

from spikeflow import encoding as E

spikegen = pytest.importorskip("snntorch.spikegen")


def test_rate_bit_identical_with_global_seed():
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(3)
    ref = spikegen.rate(x, num_steps=7, gain=0.8, offset=0.1)
    torch.manual_seed(3)
    assert torch.equal(E.rate(x, 7, gain=0.8, offset=0.1), ref)
    xt = torch.rand(7, 4, 6, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    ref = spikegen.rate(xt, time_var_input=True)
    torch.manual_seed(5)
    assert torch.equal(E.rate(xt, time_varying=True), ref)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"tau": 5.0},
        {"linear": True},
        {"linear": True, "tau": 20.0, "clip": True},
        {"linear": True, "normalize": True, "threshold": 1e-9},  # only then do the windows coincide
        {"normalize": True},  # the batch holds sub-threshold inputs, so the log bounds coincide
        {"normalize": True, "clip": True},
    ],
)
def test_latency_matches_where_semantics_match(kwargs):
    x = torch.rand(200, generator=torch.Generator().manual_seed(0)) * 0.98 + 0.02
    if kwargs.get("normalize") and not kwargs.get("linear"):
        x = torch.cat([x, torch.tensor([0.0, 0.005])])
    assert torch.equal(E.latency(x, 25, **kwargs), spikegen.latency(x, num_steps=25, **kwargs))


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("off", [False, True])
def test_delta_matches(padding, off):
    d = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    ref = spikegen.delta(d, threshold=0.3, padding=padding, off_spike=off)
    assert torch.equal(E.delta(d, threshold=0.3, padding=padding, off_spikes=off), ref)


def test_one_hot_matches():
    labels = torch.tensor([3, 0, 1])
    assert torch.equal(E.to_one_hot(labels, 4), spikegen.to_one_hot(labels, 4))
