"""Properties shared by every encoder: dtype, device, generator determinism, bad input."""

import math

import pytest
import torch

from spikeflow import encoding as E

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

ENCODERS = {
    "rate": lambda x, g: E.rate(x, 6, generator=g),
    "rate_time_varying": lambda x, g: E.rate(x, time_varying=True, generator=g),
    "latency": lambda x, g: E.latency(x, 6, linear=True, normalize=True),
    "delta": lambda x, g: E.delta(x, threshold=0.2, off_spikes=True),
    "population": lambda x, g: E.population(x, 4, 0.0, 1.0, num_steps=6, generator=g),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_dtype_and_device_preserved(name, dtype, device):
    x = torch.rand(3, 5, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)
    g = torch.Generator(device=device).manual_seed(1)
    out = ENCODERS[name](x, g)
    assert out.dtype == dtype  # snnTorch issue #440: latency returned float32 for float64 input
    assert out.device.type == device


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["rate", "rate_time_varying", "population"])
def test_same_seed_same_spikes(name, device):
    x = torch.rand(4, 7, generator=torch.Generator().manual_seed(0)).to(device)
    a = ENCODERS[name](x, torch.Generator(device=device).manual_seed(123))
    b = ENCODERS[name](x, torch.Generator(device=device).manual_seed(123))
    c = ENCODERS[name](x, torch.Generator(device=device).manual_seed(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_generator_on_another_device_is_rejected():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    with pytest.raises(ValueError, match="generator"):
        E.rate(torch.rand(3, device="cuda"), 2, generator=torch.Generator())


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: E.rate([0.5], 3), TypeError, "data"),
        (lambda: E.rate(torch.tensor([1, 0]), 3), TypeError, "data"),
        (lambda: E.rate(torch.tensor([0.5, math.nan]), 3), ValueError, "NaN"),
        (lambda: E.rate(torch.rand(2), 0), ValueError, "num_steps.*got 0"),
        (lambda: E.rate(torch.rand(2), -2), ValueError, "num_steps.*got -2"),
        (lambda: E.rate(torch.rand(2), 2.5), TypeError, "num_steps"),
        (lambda: E.rate(torch.rand(2), 2, gain=math.inf), ValueError, "gain"),
        (lambda: E.rate(torch.rand(2), 2, generator=1), TypeError, "generator"),
        (lambda: E.latency(torch.tensor([0.5, 1.5]), 5), ValueError, r"data.*\[0, 1\].*1.5"),
        (lambda: E.latency(torch.tensor([0.5]), 5, threshold=1.0), ValueError, "threshold.*got 1.0"),
        (lambda: E.latency(torch.tensor([0.5]), 5, threshold=0.0), ValueError, "threshold.*got 0.0"),
        (lambda: E.latency(torch.tensor([0.5]), 5, threshold=-0.1, linear=True), ValueError, "threshold"),
        (lambda: E.latency(torch.tensor([0.5]), 5, tau=0), ValueError, "tau.*got 0"),
        (lambda: E.latency(torch.tensor([0.5]), 0), ValueError, "num_steps.*got 0"),
        (lambda: E.latency(torch.tensor([0.5]), None), ValueError, "num_steps"),
        (lambda: E.latency(torch.tensor([0.5]), 5, first_spike_time=5), ValueError, "first_spike_time.*got 5"),
        (lambda: E.latency(torch.tensor([math.nan]), 5), ValueError, "NaN"),
        (lambda: E.latency_times(torch.tensor([0.5]), normalize=True), ValueError, "num_steps"),
        (lambda: E.delta(torch.tensor(1.0)), ValueError, "data.*T"),
        (lambda: E.delta(torch.rand(3), threshold=0), ValueError, "threshold.*got 0"),
        (lambda: E.delta(torch.tensor([0.0, math.nan])), ValueError, "NaN"),
        (lambda: E.population(torch.rand(3), 0, 0.0, 1.0), ValueError, "num_neurons.*got 0"),
        (lambda: E.population(torch.rand(3), 4, 1.0, 0.0), ValueError, "high"),
        (lambda: E.population(torch.rand(3), 4, 0.0, 1.0, sigma=-1.0), ValueError, "sigma"),
        (lambda: E.to_one_hot(torch.tensor([0, 3]), 3), ValueError, r"labels.*\[0, 2\].*\[0, 3\]"),
        (lambda: E.to_one_hot(torch.tensor([-1]), 3), ValueError, "labels"),
        (lambda: E.to_one_hot(torch.tensor([0.0]), 3), TypeError, "labels"),
        (lambda: E.rate_targets(torch.tensor([[0]]), 3, 4), ValueError, "labels.*shape"),
        (lambda: E.rate_targets(torch.tensor([0]), 3, 4, on_rate=1.5), ValueError, "on_rate.*1.5"),
        (lambda: E.rate_targets(torch.tensor([0]), 3, 4, population=0), ValueError, "population"),
        (lambda: E.rate_targets(torch.tensor([0]), 3, 4, generator=torch.Generator()), ValueError, "generator"),
        (lambda: E.latency_targets(torch.tensor([0]), 3, 4, on_time=4), ValueError, "on_time.*got 4"),
        (lambda: E.latency_targets(torch.tensor([5]), 3, 4), ValueError, "labels"),
    ],
)
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
