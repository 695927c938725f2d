"""NIR export of convolutional SNN layers: batch norms folded, dropout skipped, max pooling refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.interop import from_nir, to_nir
from spikeflow.layers import (
    AvgPool2d,
    BatchNormThroughTime,
    Flatten,
    MaxPool2d,
    SequenceDropout,
    SumPool2d,
    TDBatchNorm,
)


def test_conv_snn_with_tdbn_and_bn_exports_folded_and_reloads_identically(tmp_path) -> None:
    torch.manual_seed(0)
    net = sf.Sequential(nn.Conv2d(2, 4, 3, padding=1), TDBatchNorm(4), sf.Leaky(beta=0.9), AvgPool2d(2),
                        SumPool2d(2), Flatten(), SequenceDropout(0.3), nn.Linear(16, 5), nn.BatchNorm1d(5),
                        sf.Leaky(beta=0.8))
    x = (torch.rand(6, 3, 2, 8, 8) < 0.5).float() * 4
    net(x)  # training mode: batch statistics move the running ones
    with torch.no_grad():
        net[7].weight.mul_(6)
    net.eval()
    sf.save_nir(net, tmp_path / "cnn.nir", (2, 8, 8))
    graph = sf.interop.api.nir.read(str(tmp_path / "cnn.nir"))
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Conv2d", "AvgPool2d", "SumPool2d", "Flatten", "Affine", "LIF"} <= kinds
    assert not {"1", "6", "8"} & set(graph.nodes)  # the batch norms and the dropout are gone
    back = sf.load_nir(tmp_path / "cnn.nir")
    with torch.no_grad():
        expected, got = net(x)[0], back(x)[0]
    assert expected.sum() > 0
    torch.testing.assert_close(got, expected)


def test_max_pooling_and_lone_or_time_varying_batch_norms_refuse_to_export() -> None:
    with pytest.raises(ValueError, match="MaxPool2d has no NIR node"):
        to_nir(sf.Sequential(nn.Conv2d(2, 4, 3), MaxPool2d(2)), (2, 8, 8))
    with pytest.raises(ValueError, match="folded into a Conv/Linear directly before it"):
        to_nir(sf.Sequential(TDBatchNorm(2), sf.Leaky(beta=0.9)), (2, 8, 8))
    bntt = BatchNormThroughTime(4, time_steps=3)
    with torch.no_grad():
        bntt.weight[2] = 2.0
    with pytest.raises(ValueError, match="different statistics or scales per time step"):
        to_nir(sf.Sequential(nn.Conv2d(2, 4, 3), bntt, sf.Leaky(beta=0.9)), (2, 8, 8))


def test_time_invariant_bntt_folds_and_matches(tmp_path) -> None:
    torch.manual_seed(0)
    net = sf.Sequential(nn.Conv2d(2, 4, 3), BatchNormThroughTime(4, time_steps=8, bias=True), sf.Leaky(beta=0.9))
    with torch.no_grad():
        net[1].weight.copy_(torch.linspace(1, 3, 4).expand(8, 4))
    net.eval()
    back = from_nir(to_nir(net, (2, 6, 6)))
    x = (torch.rand(8, 2, 2, 6, 6) < 0.5).float()
    with torch.no_grad():
        expected, got = net(x)[0], back(x)[0]
    assert expected.sum() > 0
    torch.testing.assert_close(got, expected)
