"""Files from snnTorch 1.0, Norse 1.1 and SpikingJelly 2.0 exporters reproduce the originator's outputs in
spikeflow, and spikeflow's exports load in the peers' importers (where those importers work)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.interop import from_nir, to_nir

T = 30


def _x(features: int, scale: float = 2.0) -> torch.Tensor:
    return (torch.rand(T, 2, features) < 0.5).float() * scale


def _steps(fn, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([fn(x_t) for x_t in x])


def _ours(graph, x: torch.Tensor, **kw) -> torch.Tensor:
    with torch.no_grad():
        return from_nir(graph, **kw)(x)[0]


def test_snntorch_export_is_reproduced() -> None:
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    net = nn.Sequential(nn.Linear(4, 5), snn.Leaky(beta=torch.rand(5) * 0.9, threshold=torch.full((5,), 0.5), **kw),
                        nn.Linear(5, 3), snn.Synaptic(alpha=torch.full((3,), 0.6), beta=torch.full((3,), 0.8),
                                                      threshold=torch.full((3,), 0.7), **kw))
    x = _x(4)
    graph = export_to_nir(net, x[0], ignore_dims=[0])
    pytest.importorskip("snntorch.utils").reset(net)  # the exporter ran the network once; start from rest
    expected = _steps(net, x)
    assert expected.sum() > 0
    assert torch.equal(_ours(graph, x, dt=1e-4), expected)


def test_snntorch_rleaky_export_is_reproduced_with_bias_at_start() -> None:
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    net = nn.Sequential(nn.Linear(4, 5), snn.RLeaky(beta=torch.full((5,), 0.9), threshold=torch.full((5,), 0.5),
                                                    linear_features=5, init_hidden=True, reset_mechanism="zero",
                                                    reset_delay=False, output=False))
    x = _x(4)
    graph = export_to_nir(net, x[0], ignore_dims=[0])
    pytest.importorskip("snntorch.utils").reset(net)  # the exporter ran the network once; start from rest
    expected = _steps(net, x)
    assert expected.sum() > 0
    assert torch.equal(_ours(graph, x, dt=1e-4, recurrent_bias_at_start=True), expected)


def test_norse_export_is_reproduced() -> None:
    norse = pytest.importorskip("norse.torch")
    dt = 1e-3
    lif = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((5,), 100.0), v_th=torch.full((5,), 0.3),
                                                  v_leak=torch.zeros(5), v_reset=torch.zeros(5)))
    iaf = norse.IAFCell(norse.IAFParameters(v_th=torch.full((3,), 0.5), v_reset=torch.zeros(3)))
    net = norse.SequentialState(nn.Linear(4, 5), lif, nn.Linear(5, 3), iaf)
    x = _x(4, 3.0)
    graph = norse.to_nir(net, x[0, 0], dt=dt)
    state, outs = None, []
    with torch.no_grad():
        for x_t in x:
            y, state = net(x_t, state)
            outs.append(y)
    expected = torch.stack(outs)
    assert expected.sum() > 0
    # Norse 1.1.0 writes tau = dt / tau_mem_inv (tau * dt, norse/norse#411) and a dt-free IF (r = 1):
    # importing with dt**2 undoes the first, if_gain="unit" reads the second.
    assert torch.equal(_ours(graph, x, dt=dt * dt, if_gain="unit"), expected)
    with pytest.raises(ValueError, match="tau >= dt"):  # read at face value the file is not simulable
        from_nir(graph, dt=dt, convention="nir")
    # the preset (guessed from r = 1) does both: Norse's dt-free IAF and the tau * dt of norse#411
    assert torch.equal(_ours(graph, x, convention="norse"), expected)
    assert torch.equal(_ours(graph, x), expected)


def test_spikingjelly_export_is_reproduced() -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net = nn.Sequential(nn.Linear(4, 5), neuron.LIFNode(tau=2.0, v_threshold=0.5), nn.Linear(5, 3),
                        neuron.IFNode(v_threshold=0.7))
    x = _x(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, x[0])
    functional.reset_net(net)
    expected = _steps(net, x)
    assert expected.sum() > 0
    assert torch.equal(_ours(graph, x, dt=1e-4, threshold="ge"), expected)  # SpikingJelly fires at v >= thr


def _spikeflow_nets() -> dict[str, nn.Module]:
    kw = dict(threshold=0.5, reset="zero", reset_delay=False)  # the semantics NIR can express
    return {"leaky": sf.Sequential(nn.Linear(4, 5), sf.Leaky(beta=0.9, **kw)),
            "synaptic": sf.Sequential(nn.Linear(4, 5), sf.Synaptic(alpha=0.6, beta=0.9, **kw)),
            "if": sf.Sequential(nn.Linear(4, 5), sf.IF(**kw))}


def _reference(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = net(x)[0]
    assert out.sum() > 0
    return out


@pytest.mark.parametrize("case", ["leaky", "synaptic"])  # snnTorch 1.0 asserts r == 1 for IF
def test_snntorch_imports_spikeflow_exports(case: str) -> None:
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    net, x = _spikeflow_nets()[case], torch.rand(T, 2, 4) * 1.5
    module = import_from_nir(to_nir(net, (4,), dt=1e-4))
    assert torch.equal(_steps(lambda x_t: module(x_t)[0], x), _reference(net, x))


@pytest.mark.parametrize("case", ["synaptic", "if"])  # Norse 1.1 ignores LIF's r (ours is tau/dt)
def test_norse_imports_spikeflow_exports(case: str) -> None:
    norse = pytest.importorskip("norse.torch")
    net, x = _spikeflow_nets()[case], torch.rand(T, 2, 4) * 1.5
    module = norse.from_nir(to_nir(net, (4,), dt=1e-4), dt=1e-4, ignore_warnings=True)
    state, outs = None, []
    with torch.no_grad():
        for x_t in x:
            y, state = module(x_t, state)
            outs.append(y)
    assert torch.equal(torch.stack(outs), _reference(net, x))


@pytest.mark.parametrize("case", ["leaky", "synaptic", "if"])
def test_spikingjelly_imports_spikeflow_exports(case: str) -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    net, x = _spikeflow_nets()[case], torch.rand(T, 2, 4) * 1.5
    module = import_from_nir(to_nir(net, (4,), dt=1e-4), dt=1e-4)
    state, outs = None, []
    with torch.no_grad():
        for x_t in x:
            y, state = module(x_t, state) if state is not None else module(x_t)
            outs.append(y)
    assert torch.equal(torch.stack(outs), _reference(net, x))
