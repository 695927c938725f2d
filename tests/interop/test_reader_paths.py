"""The reader's two paths (direct HDF5 calls in h5native.py, and h5py alone) read the same values and
refuse the same malformed files; the number of datasets read per node does not grow with the graph."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import test_malformed
from test_malformed import CORRUPTIONS, MUTATIONS, _good
from test_scaling import _chain

from spikeflow.interop import load_nir
from spikeflow.interop.h5native import _candidates, native
from spikeflow.interop.reader import read_counted, read_tree


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    trees = []
    for flag in ("1", "0"):
        monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", flag)
        with h5py.File(path, "r") as f:
            trees.append(read_tree(path, f))
    return trees[0], trees[1]


def _same(a: object, b: object, where: str) -> None:
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, np.ndarray):
        # the direct path reads in native byte order (h5py keeps the file's); kind and size agree
        assert (a.dtype.kind, a.dtype.itemsize, a.shape) == (b.dtype.kind, b.dtype.itemsize, b.shape), where
        assert [type(v) for v in a.ravel()] == [type(v) for v in b.ravel()], where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    else:
        assert a == b, where


def test_both_paths_read_every_data_type_alike(tmp_path, monkeypatch) -> None:
    path = _good(tmp_path / "good.nir")
    with h5py.File(path, "r+") as f:
        g = f.create_group("node/extra")
        for dt in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", ">f8", ">i4", "c16", "?"):
            g.create_dataset(f"a_{dt.replace('>', 'be_')}", data=np.arange(6).reshape(2, 3).astype(dt))
        g.create_dataset("gzip_f4", data=np.linspace(0, 1, 50, dtype="f4"), compression="gzip")
        g.create_dataset("scalar_f8", data=np.float64(2.5))
        g.create_dataset("empty", data=np.zeros((0, 3)))
        g.create_dataset("ascii", data=b"LIF", dtype=h5py.string_dtype("ascii"))
        g.create_dataset("utf8", data="λ-neuron", dtype=h5py.string_dtype())
        g.create_dataset("utf8_2d", data=np.array([["a", "bé"], ["", "d"]], dtype=object), dtype=h5py.string_dtype())
        g.create_dataset("fixed", data=np.array([b"ab", b"c"], dtype="S2"))
    fast, plain = _both(path, monkeypatch)
    _same(fast, plain, "node")
    assert fast["extra"]["utf8"] == b"\xce\xbb-neuron".decode() and fast["extra"]["a_be_f8"].dtype.kind == "f"


def test_both_paths_agree_on_real_files(cases, monkeypatch) -> None:
    files = sorted(cases.rglob("*.nir"))
    assert files
    for path in files:
        fast, plain = _both(path, monkeypatch)
        _same(fast, plain, str(path))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the library is found through /proc/self/maps")
def test_native_path_is_found_when_one_hdf5_is_loaded(tmp_path, monkeypatch) -> None:
    path = _good(tmp_path / "good.nir")
    monkeypatch.delenv("SPIKEFLOW_NIR_NATIVE", raising=False)
    with h5py.File(path, "r") as f:
        if len(_candidates()) != 1:
            pytest.skip(f"HDF5 libraries mapped: {_candidates()}")
        assert native(f) is not None
        monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", "0")
        assert native(f) is None


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_malformed_files_refused_by_the_h5py_path_too(tmp_path, monkeypatch, mutation: str) -> None:
    monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", "0")
    test_malformed.test_malformed_file_gives_a_value_error_naming_the_file(tmp_path, mutation)


@pytest.mark.parametrize("how,where", CORRUPTIONS)
def test_corrupt_files_refused_by_the_h5py_path_too(tmp_path, monkeypatch, how: str, where: float | str) -> None:
    monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", "0")
    test_malformed.test_corrupt_bytes_after_the_header(tmp_path, how, where)


@pytest.mark.parametrize("flag", ["1", "0"])
def test_a_group_linked_twice_is_refused(tmp_path, monkeypatch, flag: str) -> None:
    """A hard link back to an ancestor would make the tree infinite; a second link to a node reads it twice."""
    monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", flag)
    for target in ("node", "node/nodes/1"):
        path = _good(tmp_path / "loop.nir")
        with h5py.File(path, "r+") as f:
            f["node/nodes/0/loop"] = f[target]
        with pytest.raises(ValueError, match="linked from more than one place") as info:
            load_nir(path)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("flag", ["1", "0"])
def test_datasets_read_per_node_do_not_grow(tmp_path, monkeypatch, flag: str) -> None:
    """Each Scale node is read with two datasets (type, scale), whatever the chain length; the HDF5 work is
    per dataset (one open, one property list, one dataspace, one type, one read)."""
    monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", flag)
    reads = {}
    for n in (10, 200):
        path = _chain(tmp_path / f"chain{n}.nir", n)
        with h5py.File(path, "r") as f:
            reads[n] = read_counted(path, f)[1]
    assert reads[200] - reads[10] == 2 * (200 - 10), reads


@pytest.mark.parametrize("flag", ["1", "0"])
def test_a_null_dataspace_is_named(tmp_path, monkeypatch, flag: str) -> None:
    monkeypatch.setenv("SPIKEFLOW_NIR_NATIVE", flag)
    path = _good(tmp_path / "null.nir")
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/tau"]
        f["node/nodes/1"].create_dataset("tau", data=h5py.Empty("f8"))
    with pytest.raises(ValueError, match="'/node/nodes/1/tau': has no data"):
        load_nir(path)
