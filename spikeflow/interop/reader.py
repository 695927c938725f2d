"""Reading NIR files defensively: every failure is a ValueError naming the file, node or edge."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from nir.serialization import hdf2dict

LEAF_FIELDS: dict[str, tuple[str, ...]] = {
    "Input": ("shape",), "Output": ("shape",), "Affine": ("weight", "bias"), "Linear": ("weight",),
    "Scale": ("scale",), "Conv1d": ("weight", "stride", "padding", "dilation", "groups", "bias"),
    "Conv2d": ("weight", "stride", "padding", "dilation", "groups", "bias"),
    "SumPool2d": ("kernel_size", "stride", "padding"), "AvgPool2d": ("kernel_size", "stride", "padding"),
    "Flatten": ("start_dim", "end_dim"), "Delay": ("delay",), "Threshold": ("threshold",), "I": ("r",),
    "IF": ("r", "v_threshold"), "LI": ("tau", "r", "v_leak"), "LIF": ("tau", "r", "v_leak", "v_threshold"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
}
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "Conv1d": ("input_shape",), "Conv2d": ("input_shape",), "Flatten": ("input_type",),
    "IF": ("v_reset",), "LIF": ("v_reset",), "CubaLI": ("w_in",), "CubaLIF": ("w_in", "v_reset"),
}
SUPPORTED = (*LEAF_FIELDS, "NIRGraph")


def _str(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.shape == ():
        return _str(value[()])
    return value


def _edges(raw: Any, where: str) -> list[tuple[str, str]]:
    try:
        arr = np.asarray(raw, dtype=object)
        if arr.size == 0:
            return []
        arr = arr.reshape(-1, 2) if arr.ndim != 2 or arr.shape[1] != 2 else arr
        edges = [(_str(a), _str(b)) for a, b in arr]
    except Exception as e:  # malformed edge list
        raise ValueError(f"{where}: 'edges' must be a list of (source, destination) name pairs ({e})") from None
    for edge in edges:
        if not all(isinstance(n, str) for n in edge):
            raise ValueError(f"{where}: edge {edge!r} must be a pair of node names (strings)")
    return edges


def build_node(d: Any, where: str) -> nir.NIRNode:
    """A NIR node from its stored dict, with structural checks (unknown types, missing fields,
    edges to nowhere at every graph level). Graphs are built without nir's type check."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a node group, got {type(d).__name__}")
    kind = _str(d.get("type"))
    if kind not in SUPPORTED:
        raise ValueError(f"{where}: unknown node type {kind!r}; supported: {', '.join(SUPPORTED)}")
    metadata = d.get("metadata", {})
    metadata = {k: _str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    if kind == "NIRGraph":
        nodes_d = d.get("nodes")
        if not isinstance(nodes_d, dict):
            raise ValueError(f"{where}: graph without a 'nodes' group")
        nodes = {str(k): build_node(v, f"{where} node {k!r}") for k, v in nodes_d.items()}
        edges = _edges(d.get("edges", []), where)
        check_edges(nodes, edges, where)
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    missing = [f for f in LEAF_FIELDS[kind] if f not in d]
    if missing:
        raise ValueError(f"{where}: {kind} node lacks field(s) {missing}")
    allowed = set(LEAF_FIELDS[kind]) | set(OPTIONAL_FIELDS.get(kind, ()))
    fields = {k: _str(v) for k, v in d.items() if k in allowed}
    try:
        if kind == "Input":
            return nir.Input(input_type={"input": np.asarray(fields["shape"])}, metadata=metadata)
        if kind == "Output":
            return nir.Output(output_type={"output": np.asarray(fields["shape"])}, metadata=metadata)
        if kind == "Flatten":
            it = fields.pop("input_type", None)
            return nir.Flatten(input_type={"input": None if it is None else np.asarray(it)}, metadata=metadata,
                               **fields)
        if kind in ("IF", "LIF", "CubaLIF") and "v_reset" not in fields:
            fields["v_reset"] = np.zeros_like(np.asarray(fields["v_threshold"], dtype=np.float64))
        return getattr(nir, kind)(metadata=metadata, **fields)
    except Exception as e:
        raise ValueError(f"{where}: invalid {kind} node ({type(e).__name__}: {e})") from None


def check_edges(nodes: dict[str, Any], edges: list[tuple[str, str]], where: str) -> None:
    """Every edge must join two nodes of this graph level; no duplicates."""
    seen = set()
    for src, dst in edges:
        for role, name in (("source", src), ("destination", dst)):
            if name not in nodes:
                raise ValueError(
                    f"{where}: edge ({src!r}, {dst!r}) has {role} {name!r}, which is not a node of this graph "
                    f"(nodes: {sorted(nodes)})"
                )
        if (src, dst) in seen:
            raise ValueError(f"{where}: duplicate edge ({src!r}, {dst!r})")
        seen.add((src, dst))


def type_checked(graph: nir.NIRGraph, where: str) -> nir.NIRGraph:
    """nir's own type inference and check on a copy; on failure warn and return the graph as is."""
    try:
        g = copy.deepcopy(graph)
        g.infer_types()
        g.check_types()
        return g
    except Exception as e:
        warnings.warn(f"{where}: fails nir's type check ({type(e).__name__}: {e}); loaded without it",
                      UserWarning, stacklevel=3)
        return graph


def read_graph(path: str | Path, type_check: bool = True) -> nir.NIRGraph:
    """Read a NIR HDF5 file into a NIRGraph with clear errors; see build_node."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no NIR file at {str(path)!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a NIR file (cannot be opened as HDF5: {e})") from None
    with f:
        if "node" not in f or not isinstance(f["node"], h5py.Group):
            raise ValueError(f"{path}: not a NIR file (no 'node' group; keys {list(f.keys())})")
        try:
            d = hdf2dict(f["node"])
        except Exception as e:
            raise ValueError(f"{path}: unreadable NIR node data ({type(e).__name__}: {e})") from None
    graph = build_node(d, str(path))
    if not isinstance(graph, nir.NIRGraph):
        graph = nir.NIRGraph(nodes={"node": graph}, edges=[], type_check=False)
    return type_checked(graph, str(path)) if type_check else graph
