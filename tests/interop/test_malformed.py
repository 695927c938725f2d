"""A mutation set of malformed NIR files: every one gives a ValueError naming the file (and the node
where there is one); none is silently repaired, none makes the reader open another file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import spikeflow as sf
from spikeflow.interop import load_nir, save_nir

_GOOD: list[bytes] = []
REQUIRED = ["edges", "type", "nodes/0/bias", "nodes/0/type", "nodes/0/weight", "nodes/1/r", "nodes/1/tau",
            "nodes/1/type", "nodes/1/v_leak", "nodes/1/v_threshold", "nodes/input/shape", "nodes/input/type",
            "nodes/output/shape", "nodes/output/type"]
REPLACEMENTS: dict[str, Callable[[h5py.Group, str], None]] = {
    "deleted": lambda g, k: None,
    "text": lambda g, k: g.create_dataset(k, data="x"),
    "int_array": lambda g, k: g.create_dataset(k, data=np.arange(7)),
    "nan_array": lambda g, k: g.create_dataset(k, data=np.full(3, np.nan)),
    "empty_array": lambda g, k: g.create_dataset(k, data=np.zeros(0)),
    "group": lambda g, k: g.create_group(k),
}


def _good(path: Path) -> Path:
    """Input(4) -> Affine '0' -> LIF '1' -> Output, written once and copied."""
    if not _GOOD:
        net = sf.Sequential(torch.nn.Linear(4, 3), sf.Leaky(beta=0.9, threshold=0.5, reset="zero", reset_delay=False))
        save_nir(net, path, (4,))
        _GOOD.append(path.read_bytes())
    path.write_bytes(_GOOD[0])
    return path


def _replace(key: str, how: str) -> Callable[[h5py.File, Path], None]:
    def edit(f: h5py.File, path: Path) -> None:
        del f["node"][key]
        REPLACEMENTS[how](f["node"], key)
    return edit


def _edges(*pairs: tuple[str, str]) -> Callable[[h5py.File, Path], None]:
    def edit(f: h5py.File, path: Path) -> None:
        del f["node/edges"]
        f["node"].create_dataset("edges", data=np.array(pairs, dtype=object).reshape(-1, 2),
                                 dtype=h5py.string_dtype())
    return edit


def _add_scale(name: str) -> Callable[[h5py.File, Path], None]:
    def edit(f: h5py.File, path: Path) -> None:
        g = f["node/nodes"].create_group(name)
        g.create_dataset("type", data="Scale", dtype=h5py.string_dtype())
        g.create_dataset("scale", data=np.ones(3))
    return edit


def _then(*edits: Callable[[h5py.File, Path], None]) -> Callable[[h5py.File, Path], None]:
    def edit(f: h5py.File, path: Path) -> None:
        for e in edits:
            e(f, path)
    return edit


def _external_link(f: h5py.File, path: Path) -> None:
    other = path.with_name("secret.h5")
    with h5py.File(other, "w") as o:
        o["w"] = np.ones((3, 4), np.float32)
    del f["node/nodes/0/weight"]
    f["node/nodes/0/weight"] = h5py.ExternalLink(str(other), "/w")


def _soft_link(f: h5py.File, path: Path) -> None:
    f["spare"] = np.ones((3, 4), np.float32)
    del f["node/nodes/0/weight"]
    f["node/nodes/0/weight"] = h5py.SoftLink("/spare")


def _external_storage(f: h5py.File, path: Path) -> None:
    raw = path.with_name("raw.bin")
    raw.write_bytes(np.ones((3, 4), np.float32).tobytes())
    del f["node/nodes/0/weight"]
    f["node/nodes/0"].create_dataset("weight", shape=(3, 4), dtype=np.float32, external=[(str(raw), 0, 48)])


def _virtual(f: h5py.File, path: Path) -> None:
    other = path.with_name("source.h5")
    with h5py.File(other, "w") as o:
        o["w"] = np.ones((3, 4), np.float32)
    layout = h5py.VirtualLayout(shape=(3, 4), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(other), "w", shape=(3, 4))
    del f["node/nodes/0/weight"]
    f["node/nodes/0"].create_virtual_dataset("weight", layout)


def _huge(compressed: bool) -> Callable[[h5py.File, Path], None]:
    def edit(f: h5py.File, path: Path) -> None:  # 2**30 float64 = 8 GiB declared, nothing stored
        del f["node/nodes/0/weight"]
        kw = dict(chunks=(1 << 20,), compression="gzip") if compressed else {}
        f["node/nodes/0"].create_dataset("weight", shape=(1 << 30,), dtype=np.float64, **kw)
    return edit


def _deep(f: h5py.File, path: Path) -> None:
    g = f["node"]
    for i in range(40):
        g = g.create_group(f"g{i}")


def _int_type(f: h5py.File, path: Path) -> None:
    del f["node/nodes/1/type"]
    f["node/nodes/1/type"] = np.array([76, 73, 70])


MUTATIONS: dict[str, Callable[[h5py.File, Path], None]] = {
    f"{key.replace('/', '.')}:{how}": _replace(key, how) for key in REQUIRED for how in REPLACEMENTS
}
MUTATIONS.update({
    "node_type_integer_array": _int_type,
    "no_edges": _edges(),
    "edge_to_missing_node": _edges(("input", "0"), ("0", "1"), ("1", "output"), ("1", "ghost")),
    "duplicate_edge": _edges(("input", "0"), ("0", "1"), ("1", "output"), ("0", "1")),
    "edge_into_input": _edges(("input", "0"), ("0", "1"), ("1", "output"), ("1", "input")),
    "edge_out_of_output": _edges(("input", "0"), ("0", "1"), ("1", "output"), ("output", "1")),
    "node_without_incoming_edge": _edges(("0", "1"), ("1", "output")),
    "node_without_outgoing_edge": _edges(("input", "0"), ("0", "1"), ("input", "output")),
    "no_input_node": _then(lambda f, p: f["node/nodes"].__delitem__("input"), _edges(("0", "1"), ("1", "output"))),
    "no_output_node": _then(lambda f, p: f["node/nodes"].__delitem__("output"), _edges(("input", "0"), ("0", "1"))),
    "cycle_without_state": _then(_add_scale("s"), _add_scale("t"), _edges(
        ("input", "0"), ("0", "1"), ("1", "s"), ("s", "t"), ("t", "s"), ("t", "output"), ("1", "output"))),
    "self_loop_without_state": _then(_add_scale("s"), _edges(
        ("input", "0"), ("0", "1"), ("1", "s"), ("s", "s"), ("s", "output"))),
    "edges_wrong_shape": _then(lambda f, p: f["node"].__delitem__("edges"),
                               lambda f, p: f["node"].create_dataset("edges", data=np.array(["a", "b", "c"], "S"))),
    "unknown_node_type": _then(lambda f, p: f["node/nodes/1"].__delitem__("type"),
                               lambda f, p: f["node/nodes/1"].create_dataset("type", data="Hodgkin")),
    "graph_without_nodes_group": lambda f, p: f["node"].__delitem__("nodes"),
    "external_link": _external_link,
    "soft_link": _soft_link,
    "external_raw_storage": _external_storage,
    "virtual_dataset": _virtual,
    "huge_uncompressed_dataset": _huge(False),
    "huge_compressed_dataset": _huge(True),
    "groups_nested_too_deep": _deep,
})


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_malformed_file_gives_a_value_error_naming_the_file(tmp_path, mutation: str) -> None:
    path = _good(tmp_path / "bad.nir")
    with h5py.File(path, "r+") as f:
        MUTATIONS[mutation](f, path)
    with pytest.raises(ValueError) as info:
        load_nir(path)
    assert str(path) in str(info.value)


def _chunk_offset(path: Path, dataset: str) -> int:
    with h5py.File(path, "r") as f:
        return int(f[dataset].id.get_chunk_info(0).byte_offset)


CORRUPTIONS = [("truncated", 0.3), ("truncated", 0.5), ("truncated", 0.7), ("truncated", 0.9),
               ("header_garbage", 0.3), ("data_garbage", "node/nodes/0/weight"), ("data_garbage", "node/nodes/1/tau"),
               ("data_garbage", "node/nodes/1/v_threshold"), ("data_garbage", "node/nodes/input/shape")]


@pytest.mark.parametrize("how,where", CORRUPTIONS)
def test_corrupt_bytes_after_the_header(tmp_path, how: str, where: float | str) -> None:
    """Truncated files, garbage in the object headers and garbage in (compressed) array data."""
    path = _good(tmp_path / "bad.nir")
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[:int(len(data) * float(where))]
    else:
        start = int(len(data) * where) if isinstance(where, float) else _chunk_offset(path, where)
        size = 256 if how == "header_garbage" else 16
        data[start:start + size] = (b"\xff\x00\x13\x37" * 64)[:size]
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        load_nir(path)
    assert str(path) in str(info.value)


def test_the_set_is_large_and_names_nodes() -> None:
    assert len(MUTATIONS) + len(CORRUPTIONS) >= 72


def test_messages_name_the_node(tmp_path) -> None:
    cases = {"node_type_integer_array": "node '1'", "nodes.1.tau:nan_array": "node '1'",
             "node_without_incoming_edge": "node '0'", "cycle_without_state": "no stateful node",
             "no_input_node": "no Input node", "external_link": "external link", "soft_link": "soft link",
             "huge_uncompressed_dataset": "declares", "external_raw_storage": "external files"}
    for mutation, text in cases.items():
        path = _good(tmp_path / f"{mutation}.nir")
        with h5py.File(path, "r+") as f:
            MUTATIONS[mutation](f, path)
        with pytest.raises(ValueError, match=text):
            load_nir(path)
