"""Direct calls into the HDF5 library that h5py itself loaded, for reading many small datasets.

h5py wraps every HDF5 handle in a Python object (the creation property list, the dataspace and the
datatype of each dataset), and for the tiny arrays of a NIR file that wrapping costs more than
HDF5's own work. Here the same HDF5 functions are called through ctypes on h5py's handles.

Used only where the library can be identified unambiguously: Linux (/proc/self/maps lists exactly
one libhdf5), the version equals h5py's, and h5py's open file id is valid in it. Anywhere else, or
with SPIKEFLOW_NIR_NATIVE=0, reader.py uses h5py alone; the checks are the same either way.
Only integer, float and variable-length string data are read here; reader.py reads the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import re
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
from h5py import h5i, h5s, h5t

try:
    from h5py._objects import phil as _PHIL
except ImportError:  # private in h5py: without it the direct path is off
    _PHIL = None

__all__ = ["Native", "h5py_lock", "native"]

HID, HERR, HTRI, HSIZE, SIZE = ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t
DEFAULT = 0  # H5P_DEFAULT and H5S_ALL
DIR_DEFAULT = 0  # H5T_DIR_DEFAULT
F8, I8 = np.dtype("f8"), np.dtype("i8")
VLEN = {h5t.CSET_ASCII: h5py.string_dtype("ascii"), h5t.CSET_UTF8: h5py.string_dtype("utf-8")}
_LIB = re.compile(r"^libhdf5(_serial|_openmpi|_mpich)?([-.][^/]*)?\.(so|dylib)([.\d]*)$")


class _Token(ctypes.Union):
    _fields_ = [("token", ctypes.c_uint8 * 16), ("val_size", SIZE)]


class LinkInfo(ctypes.Structure):
    """H5L_info2_t (HDF5 >= 1.12): link type, creation order, character set, object token."""

    _fields_ = [("type", ctypes.c_int), ("corder_valid", ctypes.c_bool), ("corder", ctypes.c_int64),
                ("cset", ctypes.c_int), ("u", _Token)]


_ITERATE = ctypes.CFUNCTYPE(HERR, HID, ctypes.c_char_p, ctypes.POINTER(LinkInfo), ctypes.c_void_p)


class HDF5Error(Exception):
    """An HDF5 call failed (reader.py turns it into a ValueError naming the file and object)."""


class Native:
    """The HDF5 C functions the reader needs, with argument and return types declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        sig: dict[str, tuple[Any, list[Any]]] = {
            "H5Oopen": (HID, [HID, ctypes.c_char_p, HID]), "H5Oclose": (HERR, [HID]),
            "H5Iget_type": (ctypes.c_int, [HID]), "H5Iis_valid": (HTRI, [HID]),
            "H5Dget_create_plist": (HID, [HID]), "H5Dget_space": (HID, [HID]), "H5Dget_type": (HID, [HID]),
            "H5Dread": (HERR, [HID, HID, HID, HID, HID, ctypes.c_void_p]),
            "H5Pget_layout": (ctypes.c_int, [HID]), "H5Pget_external_count": (ctypes.c_int, [HID]),
            "H5Pget_nfilters": (ctypes.c_int, [HID]), "H5Pclose": (HERR, [HID]),
            "H5Sget_simple_extent_type": (ctypes.c_int, [HID]), "H5Sget_simple_extent_ndims": (ctypes.c_int, [HID]),
            "H5Sget_simple_extent_dims": (ctypes.c_int, [HID, ctypes.POINTER(HSIZE), ctypes.c_void_p]),
            "H5Sclose": (HERR, [HID]),
            "H5Tget_class": (ctypes.c_int, [HID]), "H5Tequal": (HTRI, [HID, HID]), "H5Tget_size": (SIZE, [HID]),
            "H5Tget_sign": (ctypes.c_int, [HID]),
            "H5Tis_variable_str": (HTRI, [HID]), "H5Tget_cset": (ctypes.c_int, [HID]),
            "H5Tget_native_type": (HID, [HID, ctypes.c_int]), "H5Tcopy": (HID, [HID]),
            "H5Tset_size": (HERR, [HID, SIZE]), "H5Tset_cset": (HERR, [HID, ctypes.c_int]), "H5Tclose": (HERR, [HID]),
            "H5Treclaim": (HERR, [HID, HID, HID, ctypes.c_void_p]),
            "H5get_libversion": (HERR, [ctypes.POINTER(ctypes.c_uint)] * 3),
            "H5Literate2": (HERR, [HID, ctypes.c_int, ctypes.c_int, ctypes.POINTER(HSIZE), _ITERATE, ctypes.c_void_p]),
            "H5Lget_info2": (HERR, [HID, ctypes.c_char_p, ctypes.POINTER(LinkInfo), HID]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        self.c_s1 = HID.in_dll(lib, "H5T_C_S1_g").value
        self.native_double = HID.in_dll(lib, "H5T_NATIVE_DOUBLE_g").value
        self.native_int64 = HID.in_dll(lib, "H5T_NATIVE_INT64_g").value
        self.dims = (HSIZE * 32)()  # H5S_MAX_RANK
        self.vlen: dict[int, int] = {}  # cset -> memory type of a variable-length C string

    def version(self) -> tuple[int, int, int]:
        v = [ctypes.c_uint() for _ in range(3)]
        self.lib.H5get_libversion(*(ctypes.byref(x) for x in v))
        return v[0].value, v[1].value, v[2].value

    def call(self, fn: Callable[..., Any], *args: Any, bad: Callable[[Any], bool] = lambda r: r < 0) -> Any:
        result = fn(*args)
        if bad(result):
            raise HDF5Error(f"{fn.__name__} failed")
        return result

    def vlen_type(self, cset: int) -> int:
        """The in-memory type for variable-length strings of this character set (made once)."""
        if cset not in self.vlen:
            tid = self.call(self.lib.H5Tcopy, self.c_s1)
            self.call(self.lib.H5Tset_size, tid, h5t.VARIABLE)
            self.call(self.lib.H5Tset_cset, tid, cset)
            self.vlen[cset] = tid
        return self.vlen[cset]

    def close_types(self) -> None:
        for tid in self.vlen.values():
            self.lib.H5Tclose(tid)
        self.vlen.clear()

    def links(self, gid: int) -> list[tuple[bytes, int, bytes]]:
        """(name, link type, object token) of every link in the group, in name order."""
        found: list[tuple[bytes, int, bytes]] = []

        def visit(group: int, name: bytes, info: Any, data: Any) -> int:
            try:
                link = info.contents
                found.append((name, link.type, bytes(link.u.token) if link.type == 0 else b""))
                return 0
            except BaseException:  # stop the iteration: H5Literate2 then fails (never a link left out)
                return -1

        callback = _ITERATE(visit)
        self.call(self.lib.H5Literate2, gid, 0, 0, None, callback, None)  # H5_INDEX_NAME, H5_ITER_INC
        return found

    def token(self, loc: int, name: bytes) -> bytes:
        """The object token of the hard link ``name`` under ``loc``."""
        info = LinkInfo()
        self.call(self.lib.H5Lget_info2, loc, name, ctypes.byref(info), DEFAULT)
        return bytes(info.u.token)

    def open(self, loc: int, name: bytes) -> tuple[int, int]:
        """(handle, h5i type) of the object ``name`` under ``loc``; the caller closes it (H5Oclose)."""
        oid = self.call(self.lib.H5Oopen, loc, name, DEFAULT)
        kind = self.lib.H5Iget_type(oid)
        return oid, kind

    def layout(self, did: int) -> tuple[int, int, int]:
        """(layout, number of external files, number of filters) from the creation property list."""
        lib = self.lib
        pid = lib.H5Dget_create_plist(did)
        if pid < 0:
            raise HDF5Error("H5Dget_create_plist failed")
        try:
            found = lib.H5Pget_layout(pid), lib.H5Pget_external_count(pid), lib.H5Pget_nfilters(pid)
        finally:
            lib.H5Pclose(pid)
        if min(found) < 0:
            raise HDF5Error("reading the creation property list failed")
        return found

    def shape(self, sid: int) -> tuple[int, ...] | None:
        """The dataspace's shape; None for a null dataspace."""
        lib = self.lib
        ndim = lib.H5Sget_simple_extent_dims(sid, self.dims, None)
        if ndim > 0:
            return tuple(self.dims[:ndim])
        if ndim < 0:
            raise HDF5Error("H5Sget_simple_extent_dims failed")
        cls = lib.H5Sget_simple_extent_type(sid)  # rank 0: scalar or null
        if cls < 0:
            raise HDF5Error("H5Sget_simple_extent_type failed")
        return None if cls == h5s.NULL else ()

    def memory_type(self, tid: int) -> tuple[np.dtype, int, bool] | None:
        """(numpy dtype, memory type to read with, whether the caller closes that type) for integer,
        float and variable-length string data; None for anything else (read by h5py instead)."""
        lib = self.lib
        cls = lib.H5Tget_class(tid)
        if cls == h5t.FLOAT and lib.H5Tequal(tid, self.native_double) > 0:  # the common cases: one call
            return F8, self.native_double, False
        if cls == h5t.INTEGER and lib.H5Tequal(tid, self.native_int64) > 0:
            return I8, self.native_int64, False
        if cls in (h5t.INTEGER, h5t.FLOAT):
            mt = self.call(lib.H5Tget_native_type, tid, DIR_DEFAULT)
            size = self.call(lib.H5Tget_size, mt, bad=lambda r: r == 0)
            if cls == h5t.INTEGER and size in (1, 2, 4, 8):
                kind = "u" if self.call(lib.H5Tget_sign, mt) == h5t.SGN_NONE else "i"
                return np.dtype(f"{kind}{size}"), mt, True
            if cls == h5t.FLOAT and size in (2, 4, 8):
                return np.dtype(f"f{size}"), mt, True
            lib.H5Tclose(mt)
            return None
        if cls == h5t.STRING and self.call(lib.H5Tis_variable_str, tid) > 0:
            cset = self.call(lib.H5Tget_cset, tid)
            if cset in (h5t.CSET_ASCII, h5t.CSET_UTF8):
                return VLEN[cset], self.vlen_type(cset), False
        if cls < 0:
            raise HDF5Error("H5Tget_class failed")
        return None

    def read_strings(self, did: int, mt: int, sid: int, dtype: np.dtype, shape: tuple[int, ...]) -> Any:
        """Variable-length strings as an object array of bytes (as h5py's low-level read gives them);
        a scalar dataset (shape ()) gives the bytes object itself."""
        count = math.prod(shape)
        if count == 0:
            return np.empty(shape, dtype=dtype)
        buf = (ctypes.c_char_p * count)()  # NULL-initialised; HDF5 allocates each string
        if self.lib.H5Dread(did, mt, DEFAULT, DEFAULT, DEFAULT, buf) < 0:
            raise HDF5Error("H5Dread failed")
        try:
            values = [b"" if v is None else v for v in buf]
        finally:
            self.lib.H5Treclaim(mt, sid, DEFAULT, buf)
        if not shape:
            return values[0]
        out = np.empty(shape, dtype=dtype)
        out.reshape(-1)[:] = values
        return out


def h5py_lock() -> Any:
    """h5py's global lock (private API), or a no-op context where h5py no longer has it (then the
    direct path is not used: see native)."""
    return _PHIL if _PHIL is not None else contextlib.nullcontext()


def _candidates() -> list[str]:
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(maxsplit=5)[-1].strip() for line in f if "libhdf5" in line}
    except OSError:
        return []
    return sorted(p for p in paths if _LIB.match(os.path.basename(p)))


@functools.cache
def _load() -> Native | None:
    found = _candidates()
    if len(found) != 1:
        return None
    try:
        lib = Native(ctypes.CDLL(found[0]))
        if lib.version() != tuple(h5py.version.hdf5_version_tuple[:3]) or lib.version() < (1, 12, 0):
            return None
    except (OSError, AttributeError, ValueError):
        return None
    return lib


def native(file: h5py.File) -> Native | None:
    """The HDF5 library h5py uses, if it is identified unambiguously and shares ``file``'s handle."""
    if os.environ.get("SPIKEFLOW_NIR_NATIVE", "1") == "0" or _PHIL is None:
        return None
    lib = _load()
    if lib is None:
        return None
    fid = file.id.id
    if lib.lib.H5Iis_valid(fid) <= 0 or lib.lib.H5Iget_type(fid) != h5i.FILE:
        return None
    return lib
