"""spikeflow -> NIR file -> spikeflow: identical outputs and bit-identical parameters, for every
node type and option (the table below), and a re-export of the import writes the same file."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import nir
import numpy as np
import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.interop import NIRNetwork, from_nir, load_nir, save_nir, to_nir
from spikeflow.layers.delay import Delay
from spikeflow.layers.elementwise import Scale, Threshold
from spikeflow.layers.pool import SumPool2d

Z = dict(reset="zero", reset_delay=False)  # the neuron NIR itself describes
L = lambda n=5: nn.Linear(4, n)  # noqa: E731


def _seq(*modules: nn.Module) -> nn.Module:
    return sf.Sequential(*modules)


# name: (builder, sample shape, settings written only as metadata -> a UserWarning naming them)
CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], tuple[str, ...]]] = {
    "leaky_zero_same_step": (lambda: _seq(L(), sf.Leaky(beta=torch.rand(5), threshold=0.5, **Z)), (4,), ()),
    "leaky_per_neuron_threshold": (lambda: _seq(L(), sf.Leaky(beta=0.8, threshold=torch.rand(5) + .2, **Z)), (4,), ()),
    "leaky_graded": (lambda: _seq(L(), sf.Leaky(beta=0.9, threshold=0.5, graded_spikes=torch.rand(5) + 1, **Z)),
                     (4,), ()),
    "leaky_zero_delayed": (lambda: _seq(L(), sf.Leaky(beta=0.9, threshold=0.5, reset="zero")), (4,),
                           ("reset_delay=True",)),
    "leaky_default_subtract_delayed": (lambda: _seq(L(), sf.Leaky(beta=0.9, threshold=0.5)), (4,),
                                       ("reset='subtract'", "reset_delay=True")),
    "leaky_subtract_same_step": (lambda: _seq(L(), sf.Leaky(beta=0.9, threshold=0.5, reset_delay=False)), (4,),
                                 ("reset='subtract'",)),
    "leaky_reset_none": (lambda: _seq(L(), sf.Leaky(beta=0.7, threshold=0.2, reset="none")), (4,), ("reset='none'",)),
    "if_zero_same_step": (lambda: _seq(L(), sf.IF(threshold=0.5, **Z)), (4,), ()),
    "if_default": (lambda: _seq(L(), sf.IF(threshold=0.5)), (4,), ("reset='subtract'", "reset_delay=True")),
    "lapicque_zero_same_step": (lambda: _seq(L(), sf.Lapicque(beta=0.9, threshold=0.5, **Z)), (4,), ()),
    "lapicque_zero_delayed": (lambda: _seq(L(), sf.Lapicque(beta=0.9, threshold=0.5, reset="zero")), (4,),
                              ("reset_delay=True",)),
    "lapicque_default": (lambda: _seq(L(), sf.Lapicque(beta=0.87, threshold=0.5)), (4,),
                         ("reset='subtract'", "reset_delay=True")),
    "lapicque_r_c": (lambda: _seq(L(), sf.Lapicque(R=torch.rand(5) + 1, C=torch.rand(5) + 2, time_step=0.3,
                                                   threshold=0.5, **Z)), (4,), ()),
    "synaptic_zero_same_step": (lambda: _seq(L(), sf.Synaptic(alpha=torch.rand(5) * .9, beta=0.9, threshold=0.5, **Z)),
                                (4,), ()),
    "synaptic_default": (lambda: _seq(L(), sf.Synaptic(alpha=0.6, beta=0.9, threshold=0.5)), (4,),
                         ("reset='subtract'", "reset_delay=True")),
    "synaptic_graded": (lambda: _seq(L(), sf.Synaptic(alpha=0.6, beta=0.9, threshold=0.5, graded_spikes=3.0, **Z)),
                        (4,), ()),
    "li": (lambda: _seq(L(), sf.LI(beta=torch.rand(5) * .9)), (4,), ()),
    "li_integrator": (lambda: _seq(L(), sf.LI(beta=1.0)), (4,), ()),
    "cuba_li": (lambda: _seq(L(), sf.LI(beta=0.9, alpha=0.5)), (4,), ()),
    "rleaky_all_to_all": (lambda: _seq(L(), sf.RLeaky(beta=0.9, linear_features=5, threshold=0.5, **Z)), (4,), ()),
    "rleaky_default": (lambda: _seq(L(), sf.RLeaky(beta=0.9, linear_features=5, threshold=0.5)), (4,),
                       ("reset='subtract'", "reset_delay=True")),
    "rleaky_one_to_one": (lambda: _seq(L(), sf.RLeaky(beta=0.9, V=torch.rand(5), all_to_all=False, threshold=0.5,
                                                      **Z)), (4,), ()),
    "rleaky_graded": (lambda: _seq(L(), sf.RLeaky(beta=0.9, linear_features=5, threshold=0.5, graded_spikes=0.5,
                                                  **Z)), (4,), ()),
    "rleaky_after_linear_without_bias": (lambda: _seq(nn.Linear(4, 5, bias=False), sf.RLeaky(
        beta=0.9, linear_features=5, threshold=0.5, **Z)), (4,), ()),
    "rleaky_first_bias_unfoldable": (lambda: _seq(sf.RLeaky(beta=0.9, linear_features=4, threshold=0.5, **Z)), (4,),
                                     ("recurrent bias",)),
    "rsynaptic": (lambda: _seq(L(), sf.RSynaptic(alpha=0.7, beta=0.9, linear_features=5, threshold=0.5, **Z)), (4,),
                  ()),
    "rsynaptic_graded": (lambda: _seq(L(), sf.RSynaptic(alpha=0.7, beta=0.9, linear_features=5, threshold=0.5,
                                                        graded_spikes=torch.rand(5) + .5, **Z)), (4,), ()),
    "linear_without_bias": (lambda: _seq(nn.Linear(4, 5, bias=False), sf.Leaky(beta=0.9, threshold=.5, **Z)), (4,),
                            ()),
    "conv2d": (lambda: _seq(nn.Conv2d(2, 4, 3, padding=1), sf.Leaky(beta=0.8, threshold=0.3, **Z)), (2, 8, 8), ()),
    "conv2d_grouped": (lambda: _seq(nn.Conv2d(4, 6, 3, groups=2, stride=2, padding=(1, 0)),
                                    sf.Leaky(beta=0.8, threshold=0.3, **Z)), (4, 8, 8), ()),
    "conv1d_without_bias": (lambda: _seq(nn.Conv1d(2, 4, 3, bias=False), sf.Leaky(beta=0.8, threshold=.3, **Z)), (2, 8),
                            ()),
    "sumpool2d": (lambda: _seq(SumPool2d(2), sf.IF(threshold=1.0, **Z)), (2, 8, 8), ()),
    "avgpool2d": (lambda: _seq(nn.AvgPool2d(2), sf.IF(threshold=0.5, **Z)), (2, 8, 8), ()),
    "flatten": (lambda: _seq(nn.Flatten(), nn.Linear(32, 3), sf.Leaky(beta=0.5, threshold=.5, **Z)), (2, 4, 4), ()),
    "scale": (lambda: _seq(Scale(torch.rand(4)), sf.Leaky(beta=0.5, threshold=.3, **Z)), (4,), ()),
    "delay": (lambda: _seq(Delay(torch.randint(0, 3, (4,))), sf.Leaky(beta=0.5, threshold=.3, **Z)), (4,), ()),
    "threshold": (lambda: _seq(nn.Linear(4, 4), Threshold(0.2)), (4,), ()),
    "nested_sequential": (lambda: _seq(L(), _seq(nn.Linear(5, 5), sf.Leaky(beta=0.9, threshold=.5, **Z))), (4,), ()),
}


def _same_params(orig: nn.Module, back: nn.Module, where: str = "") -> None:
    """Every tensor of the original module, bit-identical in the imported one (broadcast shapes aside)."""
    if isinstance(orig, nn.Sequential):
        assert isinstance(back, NIRNetwork)
        for name, child in orig.named_children():
            _same_params(child, back.node(name), f"{where}{name}.")
        return
    assert type(back) is type(orig), f"{where}: {type(orig).__name__} came back as {type(back).__name__}"
    sd_o, sd_b = orig.state_dict(), back.state_dict()
    assert set(sd_o) == set(sd_b), f"{where}: {sorted(sd_o)} vs {sorted(sd_b)}"
    for key, value in sd_o.items():
        got = sd_b[key]
        assert value.dtype == got.dtype and torch.equal(torch.broadcast_to(value, got.shape), got), where + key
    if hasattr(orig, "opts"):
        assert orig.opts == back.opts, where


def _run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)[0]


def _export(net: nn.Module, path, shape, discretization: str, settings: tuple[str, ...]) -> nir.NIRGraph:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        graph = save_nir(net, path, shape, dt=1e-3, discretization=discretization)
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    expected = tuple(settings) + (("discretization='exp'",) if discretization == "exp" and
                                  any(isinstance(m, (sf.Leaky, sf.Synaptic, sf.LI, sf.Lapicque, sf.RLeaky,
                                                     sf.RSynaptic)) and not isinstance(m, sf.IF) and
                                      not (isinstance(m, sf.LI) and bool((m.beta == 1).all()))
                                      for m in net.modules()) else ())
    if expected:
        assert len(messages) == 1, messages  # one warning for the one neuron module, naming each setting
        assert all(s in messages[0] for s in expected), (messages, expected)
        assert "module '" in messages[0]
        with pytest.raises(ValueError, match="strict=True"):
            to_nir(net, shape, dt=1e-3, discretization=discretization, strict=True)
    else:
        assert messages == []  # exported exactly: nothing only in metadata, and nir's type check passes
    return graph


@pytest.mark.parametrize("discretization", ["euler", "exp"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_roundtrip_table(case: str, discretization: str, tmp_path) -> None:
    build, shape, settings = CASES[case]
    net = build()
    _export(net, tmp_path / "a.nir", shape, discretization, settings)
    back = load_nir(tmp_path / "a.nir", dt=1e-3)
    x = (torch.rand(25, 3, *shape) < 0.4).float() * 2
    expected = _run(net, x)
    assert expected.abs().sum() > 0
    assert torch.equal(_run(back, x), expected)
    _same_params(net, back)
    # re-export of the import: the same file, node for node, value for value (float64 kept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_nir(back, tmp_path / "b.nir", shape, dt=1e-3, discretization=discretization)
    a, b = nir.read(tmp_path / "a.nir", type_check=False), nir.read(tmp_path / "b.nir", type_check=False)
    _same_graph(a, b)


def _same_graph(a: nir.NIRGraph, b: nir.NIRGraph) -> None:
    assert set(a.nodes) == set(b.nodes) and sorted(map(tuple, a.edges)) == sorted(map(tuple, b.edges))
    for name, node in a.nodes.items():
        da, db = node.to_dict(), b.nodes[name].to_dict()
        assert set(da) == set(db), name
        for key, value in da.items():
            if isinstance(value, dict):
                assert value.keys() == db[key].keys(), (name, key)
                continue
            va, vb = np.asarray(value), np.asarray(db[key])
            assert va.dtype == vb.dtype and np.array_equal(va, vb), (name, key, va, vb)


def test_case_table_covers_every_exportable_module_type() -> None:
    kinds = {type(m).__name__ for build, _, _ in CASES.values() for m in build().modules()}
    assert {"Leaky", "IF", "Lapicque", "Synaptic", "LI", "RLeaky", "RSynaptic", "Linear", "Conv1d", "Conv2d",
            "SumPool2d", "AvgPool2d", "Flatten", "Scale", "Delay", "Threshold", "Sequential"} <= kinds
    assert len(CASES) >= 36


def test_stepping_an_import_equals_the_sequence(tmp_path) -> None:
    net = CASES["rsynaptic_graded"][0]()
    save_nir(net, tmp_path / "net.nir", (4,), dt=1e-4)
    back = load_nir(tmp_path / "net.nir", dt=1e-4)
    x = (torch.rand(30, 2, 4) < 0.3).float()
    state, steps = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = back.step(x[t], state)
            steps.append(y)
    assert torch.equal(_run(net, x), torch.stack(steps))


def test_recurrent_export_needs_no_bias_convention(tmp_path) -> None:
    """The recurrent bias is in the feed-forward Affine; the back edge is a bias-free Linear, so a reader
    that starts back edges at zero and one that starts them at the bias run the same network."""
    net = CASES["rleaky_graded"][0]()
    graph = to_nir(net, (4,), dt=1e-3)
    assert isinstance(graph.nodes["1.w_rec"], nir.Linear) and "spikeflow_recurrent_bias_at_start" not in graph.metadata
    assert sorted(graph.edges) == sorted([("input", "0"), ("0", "1"), ("1", "1.graded"), ("1.graded", "1.w_rec"),
                                          ("1.w_rec", "1"), ("1.graded", "output")])
    x = (torch.rand(25, 3, 4) < 0.4).float() * 2
    expected = _run(net, x)
    plain = from_nir(graph, dt=1e-3, use_metadata=False)  # generic: summed bias, cycle stepped, graded Scale
    assert plain.cyclic
    assert torch.equal(_run(plain, x), expected)


def test_strict_and_the_warning_name_the_module_and_setting() -> None:
    net = _seq(L(), _seq(nn.Linear(5, 5), sf.Leaky(beta=0.9)))
    with pytest.warns(UserWarning, match=r"module '1\.1': reset='subtract', reset_delay=True cannot be expressed"):
        to_nir(net, (4,))
    with pytest.raises(ValueError, match=r"module '1\.1'.*strict=True"):
        to_nir(net, (4,), strict=True)
    with pytest.raises(TypeError, match="strict"):
        to_nir(net, (4,), strict="yes")


def test_metadata_records_and_override_replaces_it() -> None:
    net = _seq(nn.Linear(3, 2), sf.Leaky(beta=0.9, reset="subtract", reset_delay=True))
    with pytest.warns(UserWarning):
        graph = to_nir(net, (3,))
    lif = graph.nodes["1"]
    assert isinstance(lif, nir.LIF) and lif.tau.shape == (2,)  # per-neuron arrays
    assert lif.metadata == {"spikeflow_reset": "subtract", "spikeflow_reset_delay": True}
    assert graph.metadata["spikeflow_dt"] == 1e-4
    plain = from_nir(graph, reset="zero", reset_delay=False).node("1")  # NIR's own reading
    assert plain.opts.reset == "zero" and plain.opts.reset_delay is False


def test_lapicque_is_exported_from_the_float32_values_it_runs_with() -> None:
    """decay = 1 - dt/(RC) and gain = dt/C computed in float32 (the model's dtype) are what the file encodes."""
    mismatches = 0
    for beta in np.linspace(0.4, 0.95, 40):
        if 1 - np.log(1 / beta) < 0:  # a negative decay has no LIF: refused
            with pytest.raises(ValueError, match="outside"):
                to_nir(sf.Lapicque(beta=float(beta)), (3,))
            continue
        lap = sf.Lapicque(beta=float(beta), threshold=0.5, **Z)
        p = lap.params(torch.zeros(1))
        back = from_nir(to_nir(lap, (3,), dt=1e-3), dt=1e-3, use_metadata=False).node("0")  # read as a plain LIF
        mismatches += not torch.equal(torch.broadcast_to(p["decay"], (3,)), back.neuron.beta)
        mismatches += not torch.equal(torch.broadcast_to(p["gain"], (3,)), back.gain)
    assert mismatches == 0


@pytest.mark.parametrize("make", [lambda: sf.Alpha(alpha=0.9, beta=0.8), lambda: sf.AdaptiveLeaky(beta=0.9, rho=0.9),
                                  lambda: sf.Leaky(beta=0.9, inhibition=True), lambda: nn.ReLU()])
def test_unexpressible_modules_are_refused_with_their_name(make) -> None:
    net = _seq(nn.Linear(3, 3), make())
    with pytest.raises(ValueError, match="module '1'"):
        to_nir(net, (3,))


def test_bad_export_arguments() -> None:
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(_seq(nn.Linear(3, 3)), (0,))
    with pytest.raises(ValueError, match="dt"):
        to_nir(_seq(nn.Linear(3, 3)), (3,), dt=-1.0)
    with pytest.raises(ValueError, match="discretization"):
        to_nir(_seq(nn.Linear(3, 3)), (3,), discretization="rk4")
    with pytest.raises(TypeError, match="module"):
        to_nir("net", (3,))
