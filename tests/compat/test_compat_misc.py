"""Compat helpers: spikeplot, utils, backprop, state_quant, surrogate_disable, custom surrogates."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import spikeflow.compat.snntorch as snn
import spikeflow.compat.snntorch.functional as SF
from spikeflow.compat.snntorch import backprop, spikegen, spikeplot, surrogate, utils


def test_raster_plots_every_spike() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    data = torch.zeros(5, 4)
    data[1, 2] = data[3, 0] = 1
    pts = spikeplot.raster(data, ax, s=2)
    assert sorted(map(tuple, pts.get_offsets().tolist())) == [(1.0, 2.0), (3.0, 0.0)]
    plt.close(fig)


def test_data_subset_keeps_every_nth() -> None:
    class DS:
        data = torch.arange(10)
        targets = torch.arange(10) % 3

    ds = utils.data_subset(DS(), 3)
    assert ds.data.tolist() == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="subset"):
        utils.data_subset(DS(), 0)


def test_bptt_trains_and_resets_per_batch() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), snn.Leaky(beta=0.8, init_hidden=True),
                              torch.nn.Linear(8, 3), snn.Leaky(beta=0.8, init_hidden=True, output=True))
    x = torch.rand(6, 32, 4) * 2  # time-first, time-varying
    y = torch.randint(0, 3, (32,))
    loader = DataLoader(TensorDataset(x.transpose(0, 1), y), batch_size=16)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = [backprop.BPTT(net, loader, opt, SF.mse_count_loss(), time_first=False).item() for _ in range(5)]
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="num_steps"):
        backprop.BPTT(net, loader, opt, SF.mse_count_loss(), num_steps=5)


def test_state_quant_levels_and_surrogate_disable() -> None:
    q = SF.state_quant(num_bits=2, threshold=1.0, upper_limit=0.0)  # levels -1, -1/3, 1/3, 1
    lif = snn.Leaky(beta=0.5, state_quant=q)
    _, mem = lif(torch.tensor([[0.3, 0.9]]))
    assert torch.allclose(mem, torch.tensor([[1 / 3, 1.0]]))
    x = torch.tensor([[1.5]], requires_grad=True)
    spk, _ = snn.Leaky(beta=0.5, surrogate_disable=True)(x)
    spk.sum().backward()
    assert spk.item() == 1.0 and x.grad.item() == 0.0


def test_custom_surrogate_receives_grad_output() -> None:
    def grad_fn(input_, grad_input, spikes):  # snnTorch's signature
        return grad_input * 3.0

    x = torch.tensor([[0.5, 1.5]], requires_grad=True)
    spk, _ = snn.Leaky(beta=0.5, spike_grad=surrogate.custom_surrogate(grad_fn))(x)
    (spk * torch.tensor([[1.0, 2.0]])).sum().backward()
    assert x.grad.tolist() == [[3.0, 6.0]]


def test_rate_first_spike_time_and_bad_arguments() -> None:
    out = spikegen.rate(torch.ones(3), num_steps=4, first_spike_time=2)
    assert out[:2].sum() == 0 and out[2:].sum() == 6
    with pytest.raises(ValueError, match="num_steps"):
        spikegen.rate(torch.ones(3))
    with pytest.raises(ValueError, match="interpolate"):
        spikegen.latency(torch.rand(3), num_steps=5, interpolate=True)
