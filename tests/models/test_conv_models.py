"""Reference networks: the NIR paper's N-MNIST CNN, the VGG-style CNN, the SHD recurrent SNN."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import spikeflow as sf
from spikeflow.models import load_nir_weights, mnist_scnn, nmnist_cnn, shd_rsnn, vgg_snn

NMNIST = Path(__file__).parents[2] / ".." / "shared" / "nir-cases" / "02_cnn" / "cnn_sinabs.nir"


@pytest.fixture
def nmnist_file() -> Path:
    if not NMNIST.is_file():
        pytest.skip(f"the NIR paper's N-MNIST CNN is not at {NMNIST}")
    return NMNIST


def test_nmnist_cnn_takes_the_nir_paper_weights_and_matches_load_nir(nmnist_file) -> None:
    import nir

    model = load_nir_weights(nmnist_cnn(), nmnist_file)
    graph = nir.read(str(nmnist_file))
    for name in ("0", "2", "5", "9", "11"):
        assert torch.equal(getattr(model, name).weight, torch.as_tensor(graph.nodes[name].weight))
    # the same semantics asked of the importer: Sinabs' IAF (unit input gain, subtract, same step)
    imported = sf.load_nir(nmnist_file, if_gain="unit", reset="subtract", reset_delay=False)
    torch.manual_seed(0)
    x = (torch.rand(25, 3, 2, 34, 34) < 0.15).float() * 2  # event counts per frame
    with torch.no_grad():
        ours, theirs = model(x)[0], imported(x)[0]
    assert ours.shape == (25, 3, 10) and ours.sum() > 0
    assert torch.equal(ours, theirs)


def test_loading_weights_of_the_wrong_shape_or_threshold_fails_clearly(nmnist_file) -> None:
    with pytest.raises(ValueError, match=r"node '0': weight shape \(16, 2, 5, 5\)"):
        load_nir_weights(sf.Sequential(torch.nn.Conv2d(2, 8, 5)), nmnist_file)
    with pytest.raises(ValueError, match="v_threshold"):
        load_nir_weights(nmnist_cnn(threshold=0.5), nmnist_file)


def test_vgg_snn_shapes_gradients_and_options() -> None:
    torch.manual_seed(0)
    x = (torch.rand(3, 2, 2, 16, 16) < 0.3).float()
    for norm in ("tdbn", "bntt", None):
        net = vgg_snn(cfg=(4, "P", 8, "P"), input_size=(16, 16), norm=norm, time_steps=3, num_classes=10)
        out, _ = net(x)
        assert out.shape == (3, 2, 10)
        out.sum().backward()
        assert net[0].weight.grad is not None
    assert isinstance(vgg_snn(cfg=(4, "P"), input_size=(8, 8), pool="max")[3], sf.layers.MaxPool2d)
    with pytest.raises(ValueError, match="time_steps"):
        vgg_snn(cfg=(4,), norm="bntt")
    with pytest.raises(ValueError, match="too many pooling stages"):
        vgg_snn(cfg=("P",) * 7)
    full = vgg_snn()  # documented default: VGG-11 layout, DVS Gesture 2x48x48, 11 classes
    assert sum(isinstance(m, torch.nn.Conv2d) for m in full) == 8 and full[-2].out_features == 11


def test_shd_rsnn_alif_default_and_the_neuron_hook() -> None:
    torch.manual_seed(0)
    x = (torch.rand(12, 2, 700) < 0.1).float()
    net = shd_rsnn(hidden=32)
    out, _ = net(x)
    assert out.shape == (12, 2, 20)
    out.sum().backward()
    rec = net[1]
    assert isinstance(rec.neuron, sf.AdaptiveLeaky) and rec.recurrent.weight.grad.abs().sum() > 0
    assert isinstance(shd_rsnn(hidden=16, neuron="lif")[1], sf.RLeaky)
    hooked = shd_rsnn(hidden=16, neuron=lambda n: sf.Leaky(beta=0.8))  # e.g. a resonate-and-fire factory
    assert isinstance(hooked[1].neuron, sf.Leaky) and hooked(x)[0].shape == (12, 2, 20)
    with pytest.raises(ValueError, match="neuron: expected 'alif', 'lif' or a callable"):
        shd_rsnn(neuron="rf")


def test_mnist_scnn_has_the_documented_shape() -> None:
    net = mnist_scnn()
    out, _ = net(torch.rand(2, 4, 1, 28, 28))
    assert out.shape == (2, 4, 10) and net[0].out_channels == 12 and net[3].out_channels == 32
