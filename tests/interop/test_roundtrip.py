"""spikeflow -> NIR -> spikeflow gives identical outputs and identical parameters."""

from __future__ import annotations

import warnings

import nir
import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.interop import NIRNetwork, from_nir, load_nir, save_nir, to_nir
from spikeflow.layers.delay import Delay
from spikeflow.layers.elementwise import Scale, Threshold
from spikeflow.layers.pool import SumPool2d


def _nets() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    lin = lambda: nn.Linear(4, 5)  # noqa: E731
    return {
        "leaky_zero_same_step": (sf.Sequential(lin(), sf.Leaky(beta=torch.rand(5), threshold=0.5, reset="zero",
                                                               reset_delay=False)), (4,)),
        "leaky_default_subtract_delayed": (sf.Sequential(lin(), sf.Leaky(beta=0.9, threshold=0.5)), (4,)),
        "leaky_reset_none": (sf.Sequential(lin(), sf.Leaky(beta=0.7, threshold=0.2, reset="none")), (4,)),
        "if": (sf.Sequential(lin(), sf.IF(threshold=0.5, reset_delay=False)), (4,)),
        "synaptic": (sf.Sequential(lin(), sf.Synaptic(alpha=torch.rand(5) * 0.9, beta=0.9, threshold=0.5)), (4,)),
        "li": (sf.Sequential(lin(), sf.LI(beta=0.9)), (4,)),
        "li_integrator": (sf.Sequential(lin(), sf.LI(beta=1.0)), (4,)),
        "cuba_li": (sf.Sequential(lin(), sf.LI(beta=0.9, alpha=0.5)), (4,)),
        "lapicque": (sf.Sequential(lin(), sf.Lapicque(beta=0.9, threshold=0.5, reset_delay=False)), (4,)),
        "rleaky": (sf.Sequential(lin(), sf.RLeaky(beta=0.9, linear_features=5, threshold=0.5)), (4,)),
        "rleaky_one_to_one": (sf.Sequential(lin(), sf.RLeaky(beta=0.9, V=torch.rand(5), all_to_all=False,
                                                             threshold=0.5)), (4,)),
        "rsynaptic": (sf.Sequential(lin(), sf.RSynaptic(alpha=0.7, beta=0.9, linear_features=5, threshold=0.5)), (4,)),
        "conv_pool_flatten_graded": (sf.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), sf.Leaky(beta=0.8, threshold=0.3), SumPool2d(2), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(16, 3), sf.Leaky(beta=0.5, graded_spikes=2.0)), (2, 8, 8)),
        "conv1d_scale_delay_threshold": (sf.Sequential(
            nn.Conv1d(2, 4, 3, bias=False), Scale(torch.rand(4, 6)), Delay(torch.randint(0, 3, (4, 6))),
            Threshold(0.2)), (2, 8)),
        "nested_sequential": (sf.Sequential(lin(), sf.Sequential(nn.Linear(5, 5), sf.Leaky(beta=0.9))), (4,)),
    }


NETS = _nets()


def _same_params(orig: nn.Module, back: nn.Module) -> None:
    if isinstance(orig, nn.Sequential):
        assert isinstance(back, NIRNetwork)
        for name, child in orig.named_children():
            _same_params(child, back.node(name))
        return
    sd_o, sd_b = orig.state_dict(), back.state_dict()
    for key, value in sd_o.items():
        if key == "graded_spikes" and not bool((value == 1).all()):
            continue  # exported as a separate Scale node, checked through the outputs
        assert key in sd_b, f"{type(orig).__name__}.{key} lost"
        assert torch.equal(torch.broadcast_to(value, sd_b[key].shape), sd_b[key]), key


@pytest.mark.parametrize("discretization", ["euler", "exp"])
@pytest.mark.parametrize("case", sorted(NETS))
def test_roundtrip_identical_outputs_and_parameters(case: str, discretization: str) -> None:
    net, shape = NETS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the exported graph passes nir's type check
        graph = to_nir(net, shape, dt=1e-3, discretization=discretization)
    back = from_nir(graph, dt=1e-3)
    x = (torch.rand(25, 3, *shape) < 0.3).float() * 2
    with torch.no_grad():
        expected, _ = net(x)
        got, _ = back(x)
    assert torch.equal(expected, got)
    if case != "lapicque":  # Lapicque comes back as a Leaky with an input gain (same outputs)
        _same_params(net, back)


def test_roundtrip_through_file_and_stepping(tmp_path) -> None:
    net, shape = NETS["rsynaptic"]
    path = tmp_path / "net.nir"
    save_nir(net, path, shape, dt=1e-4)
    back = load_nir(path, dt=1e-4)
    x = (torch.rand(30, 2, *shape) < 0.3).float()
    with torch.no_grad():
        expected, _ = net(x)
        got, _ = back(x)
        state, steps = None, []
        for t in range(x.shape[0]):
            y, state = back.step(x[t], state)
            steps.append(y)
    assert torch.equal(expected, got)
    assert torch.equal(expected, torch.stack(steps))


def test_export_records_what_nir_cannot_express() -> None:
    net = sf.Sequential(nn.Linear(3, 2), sf.Leaky(beta=0.9, reset="subtract", reset_delay=True))
    graph = to_nir(net, (3,))
    lif = graph.nodes["1"]
    assert isinstance(lif, nir.LIF) and lif.tau.shape == (2,)  # per-neuron arrays
    assert lif.metadata == {"spikeflow_reset": "subtract", "spikeflow_reset_delay": True}
    assert graph.metadata["spikeflow_dt"] == 1e-4
    # An override on import replaces the metadata: NIR's own reading (zero reset, same step).
    plain = from_nir(graph, reset="zero", reset_delay=False).node("1")
    assert plain.opts.reset == "zero" and plain.opts.reset_delay is False


def test_reimported_graph_exports_back_to_same_nodes(tmp_path) -> None:
    net, shape = NETS["rleaky"]
    g1 = to_nir(net, shape)
    g2 = to_nir(from_nir(g1), shape)
    assert set(g1.nodes) == set(g2.nodes) and sorted(g1.edges) == sorted(g2.edges)
    for name, node in g1.nodes.items():
        for key, value in node.to_dict().items():
            if key not in ("type", "metadata"):
                assert (torch.as_tensor(value) == torch.as_tensor(g2.nodes[name].to_dict()[key])).all(), (name, key)


@pytest.mark.parametrize("make", [lambda: sf.Alpha(alpha=0.9, beta=0.8), lambda: sf.AdaptiveLeaky(beta=0.9, rho=0.9),
                                  lambda: sf.Leaky(beta=0.9, inhibition=True), lambda: nn.ReLU()])
def test_unexpressible_modules_are_refused_with_their_name(make) -> None:
    net = sf.Sequential(nn.Linear(3, 3), make())
    with pytest.raises(ValueError, match="module '1'"):
        to_nir(net, (3,))


def test_bad_export_arguments() -> None:
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(sf.Sequential(nn.Linear(3, 3)), (0,))
    with pytest.raises(ValueError, match="dt"):
        to_nir(sf.Sequential(nn.Linear(3, 3)), (3,), dt=-1.0)
    with pytest.raises(ValueError, match="discretization"):
        to_nir(sf.Sequential(nn.Linear(3, 3)), (3,), discretization="rk4")
    with pytest.raises(TypeError, match="module"):
        to_nir("net", (3,))
