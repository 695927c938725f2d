"""Reading NIR files defensively: every failure is a ValueError naming the file, node or edge.

The HDF5 tree is walked by our own code (not ``nir.read``) so that:
* soft and external links, external raw storage and virtual datasets are refused: a NIR file
  never makes us read another file on the machine;
* every dataset's size is checked against the file size *before* it is read;
* corrupt data (h5py's RuntimeError/OSError/KeyError...) becomes a ValueError naming the object;
* the time grows linearly with the number of nodes (nir's own type inference is quadratic).
Structure (structure.py) is checked at every graph level; nothing is repaired.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from h5py import h5d, h5g, h5i, h5l, h5o, h5s

from .h5native import HDF5Error, Native, h5py_lock, native
from .structure import check_edges, check_structure, type_check_warnings

__all__ = ["build_node", "check_edges", "check_structure", "read_graph", "type_checked"]

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
ALLOWED = {kind: frozenset(LEAF_FIELDS[kind] + OPTIONAL_FIELDS.get(kind, ())) for kind in LEAF_FIELDS}
SUPPORTED = (*LEAF_FIELDS, "NIRGraph")
MAX_DEPTH = 32  # nesting of groups (graphs inside graphs): deeper is treated as corrupt
MIN_BUDGET = 1 << 20  # bytes any file may expand to (compressed data can exceed the file size)
EXPANSION = 1000  # compressed data may expand at most this much relative to the file size
CORE_MAX = 256 << 20  # files up to this size are read into memory at once


def _str(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.shape == ():
        return _str(value[()])
    return value


def _decode(raw: bytes) -> str:
    return raw.decode("utf8", errors="replace")


class _Tree:
    """Reads a group into nested dicts of numpy values, refusing links and oversize data.

    One group at a time: one link iteration (in C) per group, then each member opened once,
    checked, read and closed before the next. Per dataset: one open, one creation property list
    (layout, external storage, filters), one dataspace, one type, one read. Through h5native (the
    same HDF5 calls without an h5py object per handle) where available, else h5py's low-level API;
    h5py's high-level objects cost milliseconds per node."""

    def __init__(self, path: Path, size: int, lib: Native | None = None) -> None:
        self.path = path
        self.size = size
        self.budget = max(MIN_BUDGET, EXPANSION * size)  # total bytes we agree to materialise
        self.groups: set[int | bytes] = set()  # addresses (h5py) or tokens (h5native) of the groups read
        self.lib = lib
        self.reads = 0  # datasets read (tests check it grows linearly with the nodes)

    def fail(self, name: str, why: str) -> ValueError:
        return ValueError(f"{self.path}: object {name!r}: {why}")

    def check_links(self, links: list[tuple[bytes, int, Any]], gname: str) -> None:
        for raw, kind, _ in links:
            if kind != h5l.TYPE_HARD:
                what = {h5l.TYPE_EXTERNAL: "an HDF5 external link; NIR files must not refer to other files",
                        h5l.TYPE_SOFT: "an HDF5 soft link; NIR files hold their data directly"}
                why = "is " + what.get(kind, f"an HDF5 link of unknown type {kind}")
                raise self.fail(f"{gname}/{_decode(raw)}", why)

    def enter(self, key: Any, gname: str, raw: bytes, depth: int) -> str:
        """A subgroup about to be read: its name, after the depth and single-link checks."""
        name = f"{gname}/{_decode(raw)}"
        if depth >= MAX_DEPTH:
            raise self.fail(name, f"groups nested deeper than {MAX_DEPTH} levels")
        if key in self.groups:  # a second hard link: a cycle, or one subtree read twice
            raise self.fail(name, "is a group linked from more than one place in the file")
        self.groups.add(key)
        return name

    def group(self, gid: Any, gname: str, depth: int = 0) -> dict[str, Any]:
        """Everything under the group (h5py), in name order (as h5py lists a group, and nir.read builds it)."""
        links: list[tuple[bytes, int, int]] = []
        gid.links.iterate(lambda n, info: links.append((n, info.type, info.u)), info=True)
        self.check_links(links, gname)
        out: dict[str, Any] = {}
        for raw, _, addr in links:
            obj = h5o.open(gid, raw)
            if isinstance(obj, h5d.DatasetID):
                out[_decode(raw)] = self.dataset(obj, gname, raw)
            elif isinstance(obj, h5g.GroupID):
                out[_decode(raw)] = self.group(obj, self.enter(addr, gname, raw, depth), depth + 1)
            else:
                raise self.fail(f"{gname}/{_decode(raw)}", f"unexpected HDF5 object ({type(obj).__name__})")
        return out

    def native_group(self, gid: int, gname: str, depth: int = 0) -> dict[str, Any]:
        """group() through h5native: the same checks and result, no h5py object per group or link."""
        lib = self.lib
        assert lib is not None
        try:
            links = lib.links(gid)
        except HDF5Error as e:
            raise self.fail(gname, f"cannot be listed, corrupt data? ({e})") from None
        self.check_links(links, gname)
        out: dict[str, Any] = {}
        for raw, _, token in links:
            try:
                oid, kind = lib.open(gid, raw)
            except HDF5Error as e:
                raise self.fail(f"{gname}/{_decode(raw)}", f"cannot be opened, corrupt data? ({e})") from None
            try:
                if kind == h5i.DATASET:
                    out[_decode(raw)] = self.native_dataset(oid, gid, gname, raw)
                elif kind == h5i.GROUP:
                    out[_decode(raw)] = self.native_group(oid, self.enter(token, gname, raw, depth), depth + 1)
                else:
                    raise self.fail(f"{gname}/{_decode(raw)}", f"unexpected HDF5 object (identifier type {kind})")
            finally:
                lib.lib.H5Oclose(oid)
        return out

    def admit(self, shape: tuple[int, ...], dtype: np.dtype, filters: int | Callable[[], int], gname: str,
              raw: bytes) -> int:
        """Refuse data larger than the file could hold (uncompressed) or than the budget; returns the count."""
        count = math.prod(shape)  # exact (Python ints)
        nbytes = count * max(dtype.itemsize, 1)
        if nbytes > self.size and nbytes > 1024 and (filters() if callable(filters) else filters) == 0:
            raise self.fail(f"{gname}/{_decode(raw)}", f"declares {nbytes} bytes of uncompressed data ({shape}, "
                                                     f"{dtype}) but the file has only {self.size} bytes")
        if nbytes > self.budget:
            raise self.fail(f"{gname}/{_decode(raw)}", f"declares {nbytes} bytes ({shape}, {dtype}), more than the "
                                                     f"{self.budget} bytes allowed for a {self.size}-byte file")
        self.budget -= nbytes
        self.reads += 1
        return count

    def layout_checks(self, layout: int, external: int | Callable[[], int], gname: str, raw: bytes) -> None:
        if layout == h5d.VIRTUAL:
            raise self.fail(f"{gname}/{_decode(raw)}", "is a virtual dataset (data in other files); refused")
        if layout == h5d.CONTIGUOUS and (external() if callable(external) else external) > 0:
            raise self.fail(f"{gname}/{_decode(raw)}", "stores its data in external files; refused")

    def dataset(self, did: Any, gname: str, raw: bytes) -> Any:
        """One dataset through h5py's low-level API."""
        plist = did.get_create_plist()
        self.layout_checks(plist.get_layout(), plist.get_external_count, gname, raw)
        shape = did.shape
        if shape is None:
            raise self.fail(f"{gname}/{_decode(raw)}", "has no data (null dataspace)")
        dtype = did.dtype
        if dtype.kind not in "biufcSOU" or dtype.names is not None or dtype.subdtype is not None:
            raise self.fail(f"{gname}/{_decode(raw)}", f"has an unsupported data type {dtype}")
        count = self.admit(shape, dtype, plist.get_nfilters, gname, raw)
        arr = np.empty(shape, dtype=dtype)
        if count:
            did.read(h5s.ALL, h5s.ALL, arr)
        return _str(arr[()]) if not shape else arr

    def native_dataset(self, did: int, gid: int, gname: str, raw: bytes) -> Any:
        """One dataset through h5native (same checks, same result); other data types go to dataset()."""
        lib = self.lib
        assert lib is not None
        c = lib.lib
        try:
            layout, external, filters = lib.layout(did)
            self.layout_checks(layout, external, gname, raw)
            sid = c.H5Dget_space(did)
            if sid < 0:
                raise HDF5Error("H5Dget_space failed")
            try:
                shape = lib.shape(sid)
                if shape is None:
                    raise self.fail(f"{gname}/{_decode(raw)}", "has no data (null dataspace)")
                tid = c.H5Dget_type(did)
                if tid < 0:
                    raise HDF5Error("H5Dget_type failed")
                try:
                    mem = lib.memory_type(tid)
                finally:
                    c.H5Tclose(tid)
                if mem is None:  # enums (bool), compounds (complex), fixed-length strings...: h5py reads them
                    return self.dataset(h5d.DatasetID(lib.call(c.H5Oopen, gid, raw, 0)), gname, raw)
                dtype, mt, own = mem
                try:
                    count = self.admit(shape, dtype, filters, gname, raw)
                    if dtype.kind == "O":
                        arr = lib.read_strings(did, mt, sid, dtype, shape)
                        if not shape:
                            return _str(arr)  # the bytes of a scalar string
                    else:
                        arr = np.empty(shape, dtype=dtype)
                        if count and c.H5Dread(did, mt, 0, 0, 0, arr.ctypes.data) < 0:
                            raise HDF5Error("H5Dread failed")
                finally:
                    if own:
                        c.H5Tclose(mt)
            finally:
                c.H5Sclose(sid)
        except HDF5Error as e:
            raise self.fail(f"{gname}/{_decode(raw)}", f"cannot be read, corrupt data? ({e})") from None
        return _str(arr[()]) if not shape else arr


def read_tree(path: Path, f: h5py.File) -> dict[str, Any]:
    """The file's "node" group as nested dicts (see _Tree)."""
    return read_counted(path, f)[0]


def read_counted(path: Path, f: h5py.File) -> tuple[dict[str, Any], int]:
    """read_tree and the number of datasets read."""
    lib = native(f)
    reader = _Tree(path, path.stat().st_size, lib)
    try:
        with h5py_lock():  # no other thread's h5py call while HDF5 is also called directly
            node = f["node"]
            if lib is None:
                reader.groups.add(f.id.links.get_info(b"node").u)
                return reader.group(node.id, "/node"), reader.reads
            reader.groups.add(lib.token(f.id.id, b"node"))
            return reader.native_group(node.id.id, "/node"), reader.reads
    except ValueError:
        raise
    except Exception as e:  # h5py's RuntimeError/OSError/KeyError... on corrupt data
        raise ValueError(f"{path}: corrupt NIR data ({type(e).__name__}: {e})") from None
    finally:
        if lib is not None:
            lib.close_types()


def _edges(raw: Any, where: str) -> list[tuple[str, str]]:
    arr = np.asarray(raw, dtype=object) if not isinstance(raw, (list, tuple)) else np.asarray(raw, dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{where}: 'edges' must be a list of (source, destination) name pairs, got an array of "
                         f"shape {arr.shape}")
    edges = [(_str(a), _str(b)) for a, b in arr]
    for edge in edges:
        if not all(isinstance(n, str) for n in edge):
            raise ValueError(f"{where}: edge {edge!r} must be a pair of node names (strings)")
    return edges


def build_node(d: Any, where: str) -> nir.NIRNode:
    """A NIR node from its stored dict, with structural checks at every graph level
    (see structure.check_structure). Graphs are built without nir's type check."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a node group, got {type(d).__name__}")
    kind = _str(d.get("type"))
    if not isinstance(kind, str):
        got = f"{type(kind).__name__} {getattr(kind, 'dtype', '')} {np.shape(kind)}".strip()
        raise ValueError(f"{where}: field 'type' must be a string naming the node type, got {got}")
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
        check_structure(nodes, edges, where)
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    missing = [f for f in LEAF_FIELDS[kind] if f not in d]
    if missing:
        raise ValueError(f"{where}: {kind} node lacks field(s) {missing}")
    allowed = ALLOWED[kind]
    fields = {k: _str(v) for k, v in d.items() if k in allowed}
    for k, v in fields.items():
        if isinstance(v, dict):
            raise ValueError(f"{where}: field {k!r} of a {kind} node must be data, got a group")
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


def type_checked(graph: nir.NIRGraph, where: str) -> nir.NIRGraph:
    """The declared input/output types along every edge (linear time); mismatches warn once.

    Nothing is inferred or added: a graph that needs repair is refused by check_structure.
    """
    problems = type_check_warnings(graph)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        warnings.warn(f"{where}: fails the NIR type check ({problems[0]}{more}); loaded without it",
                      UserWarning, stacklevel=3)
    return graph


def read_graph(path: str | Path, type_check: bool = True) -> nir.NIRGraph:
    """Read a NIR HDF5 file into a NIRGraph with clear errors; see build_node."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no NIR file at {str(path)!r}")
    # a file up to CORE_MAX is read into memory in one go (HDF5's core driver): its many small metadata
    # reads are then copies, not system calls; larger files are read in place
    core = dict(driver="core", backing_store=False) if path.stat().st_size <= CORE_MAX else {}
    try:
        f = h5py.File(path, "r", **core)
    except Exception as e:  # OSError for non-HDF5; other errors on corrupt superblocks
        raise ValueError(f"{path}: not a NIR file (cannot be opened as HDF5: {e})") from None
    with f:
        try:
            has_node = "node" in f and isinstance(f.get("node", getlink=True), h5py.HardLink) \
                and isinstance(f["node"], h5py.Group)
        except Exception as e:
            raise ValueError(f"{path}: corrupt NIR file ({type(e).__name__}: {e})") from None
        if not has_node:
            raise ValueError(f"{path}: not a NIR file (no 'node' group; keys {list(f.keys())})")
        d = read_tree(path, f)
    kind = _str(d.get("type"))
    if isinstance(kind, str) and kind != "NIRGraph":
        node = build_node(d, f"{path} node 'node'")
        if node.input_type is None or node.output_type is None or isinstance(node, (nir.Input, nir.Output)):
            raise ValueError(f"{path}: a single {type(node).__name__} node without a graph cannot be run")
        graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=node.input_type), "node": node,
                                    "output": nir.Output(output_type=node.output_type)},
                             edges=[("input", "node"), ("node", "output")], type_check=False)
    else:
        graph = build_node(d, str(path))
    return type_checked(graph, str(path)) if type_check else graph
