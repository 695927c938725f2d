"""Files from snnTorch 1.0, Norse 1.1 and SpikingJelly 2.0 exporters reproduce the originator's outputs in
spikeflow, with the presets guessed from the files. (The peers reading spikeflow's files: test_peer_readers.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

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


def test_presets_are_guessed_from_the_exporters_traces(caplog, tmp_path) -> None:
    """Without any option, each peer's file is read with that peer's conventions, and the guess is logged."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    net = nn.Sequential(nn.Linear(4, 5), snn.RLeaky(beta=torch.full((5,), 0.9), threshold=torch.full((5,), 0.5),
                                                    linear_features=5, init_hidden=True, reset_mechanism="zero",
                                                    reset_delay=False, output=False))
    x = _x(4)
    graph = export_to_nir(net, x[0], ignore_dims=[0])
    pytest.importorskip("snntorch.utils").reset(net)
    expected = _steps(net, x)
    with caplog.at_level("INFO", logger="spikeflow.interop"):
        got = _ours(graph, x)  # no recurrent_bias_at_start needed
    assert torch.equal(got, expected)
    assert "'snntorch'" in caplog.text and "w_rec" in caplog.text
    assert from_nir(graph).options.convention == "snntorch"
    with pytest.raises(ValueError, match="convention"):
        from_nir(graph, convention="lava")


def test_spikingjelly_file_is_guessed_and_fires_at_ge() -> None:
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
    imported = from_nir(graph)
    assert imported.options.convention == "spikingjelly" and imported.options.threshold == "ge"
    with torch.no_grad():
        assert torch.equal(imported(x)[0], expected)


def test_reexport_of_a_peer_file_keeps_its_values_bit_exact(tmp_path) -> None:
    """snnTorch writes CubaLIF with v_leak = 0 in float32/float64: a re-export of the import writes the
    same values (no float32 round trip, no recomputed v_leak), so strict readers still accept it."""
    snn = pytest.importorskip("snntorch")
    import nir
    from snntorch.export_nir import export_to_nir

    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    net = nn.Sequential(nn.Linear(4, 3), snn.Synaptic(alpha=torch.full((3,), 0.6), beta=torch.full((3,), 0.8),
                                                      threshold=torch.full((3,), 0.7), **kw))
    nir.write(tmp_path / "a.nir", export_to_nir(net, torch.zeros(1, 4), ignore_dims=[0]))
    from spikeflow.interop import load_nir, save_nir

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_nir(load_nir(tmp_path / "a.nir"), tmp_path / "b.nir", (4,), dt=1e-4)
    a, b = nir.read(tmp_path / "a.nir"), nir.read(tmp_path / "b.nir")
    for field in ("tau_syn", "tau_mem", "r", "w_in", "v_leak", "v_threshold"):
        va, vb = getattr(a.nodes["1"], field), getattr(b.nodes["1"], field)
        assert va.dtype == vb.dtype and np.array_equal(va, vb), field
    assert (b.nodes["1"].v_leak == 0).all()


def test_spikingjelly_neurons_start_at_v_reset() -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net = nn.Sequential(nn.Linear(4, 5), neuron.LIFNode(tau=2.0, v_threshold=0.5, v_reset=-0.3))
    x = _x(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, x[0])
    functional.reset_net(net)
    expected = _steps(net, x)
    assert expected.sum() > 0
    assert torch.equal(_ours(graph, x), expected)  # guessed preset: v(0) = v_reset, v >= thr
    with pytest.warns(UserWarning, match="start at v = v_reset"):
        to_nir(from_nir(graph), (4,))
