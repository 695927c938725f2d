"""Our synaptic operations and activation sparsity equal NeuroBench's on the same model and data.

NeuroBench issue #258: sparsity once came from the first sample only. Here the batches differ
in activity on purpose, so a first-batch figure would not match the figure over every sample.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import spikeflow as sf

pytest.importorskip("neurobench")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402


def _loader(shape: tuple[int, ...], graded: bool = False) -> DataLoader:
    """24 batch-first samples [B, T, ...], activity rising from batch to batch (3 batches of 8)."""
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.05] * 8 + [0.3] * 8 + [0.6] * 8).reshape(24, *([1] * len(shape)))
    x = (torch.rand(24, *shape, generator=g) < p).float()
    if graded:
        x = x * torch.rand(x.shape, generator=g)
    return DataLoader(TensorDataset(x, torch.zeros(24, dtype=torch.long)), batch_size=8, shuffle=False)


def _neurobench(net: nn.Module, loader: DataLoader) -> dict:
    model = sf.analysis.NeuroBenchAdapter(net)
    bench = Benchmark(model, loader, [], [], [[], [ActivationSparsity, SynapticOperations]])
    return bench.run(quiet=True)


def _ours(net: nn.Module, loader: DataLoader) -> dict:
    return sf.analysis.report(net, loader, encode=lambda b: b.transpose(0, 1)).summary


def _mlp() -> sf.Sequential:
    torch.manual_seed(0)
    net = sf.Sequential(nn.Linear(10, 16), sf.Leaky(beta=0.9, threshold=0.5), sf.EventLinear(16, 4),
                        sf.Leaky(beta=0.9, threshold=0.5))
    with torch.no_grad():
        net[0].weight[:, :3] = 0.0  # pruned inputs: zero weights are not operations
    return net


def _conv() -> sf.Sequential:
    torch.manual_seed(0)
    return sf.Sequential(nn.Conv2d(2, 4, 3, padding=1), sf.Leaky(beta=0.9, threshold=0.5), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 5), sf.Synaptic(alpha=0.8, beta=0.9, threshold=0.5))


@pytest.mark.parametrize("case", ["mlp", "conv", "graded"])
def test_synops_and_sparsity_equal_neurobench(case):
    net = _conv() if case == "conv" else _mlp()
    loader = _loader((6, 2, 6, 6) if case == "conv" else (6, 10), graded=case == "graded")
    theirs = _neurobench(net, loader)
    ours = _ours(net, loader)
    syn = theirs["SynapticOperations"]
    assert ours["effective_acs"] == pytest.approx(syn["Effective_ACs"], rel=1e-12)
    assert ours["effective_macs"] == pytest.approx(syn["Effective_MACs"], rel=1e-12)
    assert ours["dense_ops"] == pytest.approx(syn["Dense"], rel=1e-12)
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-12)
    if case == "graded":
        assert syn["Effective_MACs"] > 0  # the graded first layer
    assert syn["Effective_ACs"] > 0 and 0 < theirs["ActivationSparsity"] < 1
    # Over every sample, not the first batch: the first batch alone gives another figure.
    first = _ours(net, [next(iter(loader))])
    assert abs(first["activation_sparsity"] - ours["activation_sparsity"]) > 2e-3
    assert abs(first["effective_acs"] + first["effective_macs"] - syn["Effective_ACs"] - syn["Effective_MACs"]) > 1


def test_adapter_runs_time_major_and_returns_batch_first():
    net = _mlp()
    model = sf.analysis.NeuroBenchAdapter(net)
    x = torch.rand(3, 6, 10)
    out = model(x)
    assert out.shape == (3, 6, 4)
    assert torch.equal(out, net(x.transpose(0, 1))[0].transpose(0, 1))
    assert all(not m._forward_hooks for m in net.modules())  # the taps' hooks are gone after the call
    # Every call starts from rest and samples are independent: nothing carries over.
    assert torch.equal(model(x), out)
    assert torch.allclose(model(x[1:2]), out[1:2], atol=1e-6)
    with pytest.raises(ValueError, match=r"\[B, T, \.\.\.\]"):
        model(torch.rand(3, 10))
