"""Bad files and graphs give a ValueError naming the node or edge, never a crash deep inside."""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikeflow as sf
from spikeflow.interop import from_nir, load_nir, save_nir

_BYTES: list[bytes] = []


def _good(path: Path) -> Path:
    """A valid small file (Linear -> Leaky), written once and copied."""
    if not _BYTES:
        net = sf.Sequential(torch.nn.Linear(4, 3), sf.Leaky(beta=0.9, reset="zero", reset_delay=False))
        save_nir(net, path, (4,))
        _BYTES.append(path.read_bytes())
    path.write_bytes(_BYTES[0])
    return path


def _edit(path: Path, fn) -> Path:
    with h5py.File(path, "r+") as f:
        fn(f["node"])
    return path


def test_not_hdf5(tmp_path) -> None:
    p = tmp_path / "x.nir"
    p.write_text("this is not a NIR file")
    with pytest.raises(ValueError, match="not a NIR file"):
        load_nir(p)
    with pytest.raises(FileNotFoundError, match="no NIR file"):
        load_nir(tmp_path / "missing.nir")


def test_hdf5_without_a_graph(tmp_path) -> None:
    p = tmp_path / "x.nir"
    with h5py.File(p, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match="no 'node' group"):
        load_nir(p)


def test_unknown_node_type(tmp_path) -> None:
    def edit(g):
        del g["nodes/1/type"]
        g["nodes/1/type"] = "Hodgkin"
    with pytest.raises(ValueError, match=r"node '1'.*unknown node type 'Hodgkin'"):
        load_nir(_edit(_good(tmp_path / "x.nir"), edit))


def test_missing_field(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"node '1'.*lacks field.*tau"):
        load_nir(_edit(_good(tmp_path / "x.nir"), lambda g: g["nodes/1"].__delitem__("tau")))


def test_missing_node_referenced_by_an_edge(tmp_path) -> None:
    def edit(g):
        del g["nodes/0"]
    with pytest.raises(ValueError, match=r"edge \('input', '0'\) has destination '0'"):
        load_nir(_edit(_good(tmp_path / "x.nir"), edit))


def test_edge_to_nowhere_in_memory() -> None:
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "output"), ("input", "ghost")], type_check=False)
    with pytest.raises(ValueError, match=r"edge \('input', 'ghost'\)"):
        from_nir(graph)


def test_nan_parameter_named(tmp_path) -> None:
    def edit(g):
        tau = g["nodes/1/tau"][()]
        tau[1] = np.nan
        del g["nodes/1/tau"]
        g["nodes/1/tau"] = tau
    with pytest.raises(ValueError, match=r"node '1'.*'tau'"):
        load_nir(_edit(_good(tmp_path / "x.nir"), edit), type_check=False)


def test_shape_mismatch_names_the_node(tmp_path) -> None:
    def edit(g):
        del g["nodes/0/weight"]
        g["nodes/0/weight"] = np.ones((3, 5), dtype=np.float32)  # the input has 4 features
    message = r"node '0' declares input shape \(5,\) but its edges deliver \(4,\)"
    with pytest.warns(UserWarning, match="type check"), pytest.raises(ValueError, match=message):
        load_nir(_edit(_good(tmp_path / "x.nir"), edit))


def test_summed_edges_must_agree_in_shape() -> None:
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "a": nir.Affine(weight=np.ones((3, 2)), bias=np.zeros(3)),
                                "b": nir.Scale(scale=np.ones(2)), "sum": nir.Scale(scale=np.ones(3)),
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "a"), ("input", "b"), ("a", "sum"), ("b", "sum"), ("sum", "output")],
                         type_check=False)
    with pytest.raises(ValueError, match=r"edges into 'sum' disagree"):
        from_nir(graph)


def test_wrong_input_shape_at_call_time() -> None:
    net = from_nir(nir.NIRGraph.from_list(nir.Affine(weight=np.ones((3, 2)), bias=np.zeros(3))))
    with pytest.raises(ValueError, match=r"x: input 'input' expects \[T, B, 2\]"):
        net(torch.zeros(5, 2, 3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_raise_value_errors_only(tmp_path, data) -> None:
    path = _good(tmp_path / "fuzz.nir")
    with h5py.File(path, "r+") as f:
        names: list[str] = []
        f["node"].visit(names.append)
        target = "node/" + data.draw(st.sampled_from(sorted(names)))
        action = data.draw(st.sampled_from(["delete", "replace"]))
        del f[target]
        if action == "replace":
            value = data.draw(st.one_of(
                st.text(max_size=5),
                st.integers(-3, 3),
                st.floats(allow_nan=True, allow_infinity=True),
                st.lists(st.floats(-2, 2), max_size=4).map(np.asarray),
                st.lists(st.integers(0, 5), min_size=0, max_size=3).map(lambda s: np.ones(s or [0]))))
            f[target] = value
    try:
        net = load_nir(path, type_check=data.draw(st.booleans()))
    except ValueError:
        return
    except FileNotFoundError:
        raise
    with torch.no_grad():
        net({n: torch.zeros(2, 1, *net.shapes[n]) for n in net.inputs})


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=200))
def test_random_bytes_are_not_a_nir_file(tmp_path, blob: bytes) -> None:
    p = tmp_path / "blob.nir"
    p.write_bytes(blob)
    with pytest.raises(ValueError):
        load_nir(p)
