"""Compiled (numba) event-driven synaptic accumulation for sparse spike inputs.

x [R, N_in] is compressed row by row to its non-zero entries (CSR: indptr, indices, values);
the forward adds weight columns of active inputs only, and the weight gradient only touches
rows of W^T that belong to active inputs. Costs scale with the number of events, not R x N_in.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from ._cpu_util import _serial

COLS = 128


@numba.njit(parallel=True, cache=True, nogil=True)
def to_csr(x):  # pragma: no cover - compiled
    """Non-zero entries of x [R, N] as (indptr [R + 1], indices [nnz], values [nnz])."""
    R, N = x.shape
    counts = np.zeros(R + 1, dtype=np.int64)
    for r in prange(R):
        c = 0
        for i in range(N):
            if x[r, i] != 0:
                c += 1
        counts[r + 1] = c
    indptr = np.cumsum(counts)
    nnz = indptr[R]
    indices = np.empty(nnz, dtype=np.int32)
    values = np.empty(nnz, dtype=x.dtype)
    for r in prange(R):
        p = indptr[r]
        for i in range(N):
            xv = x[r, i]
            if xv != 0:
                indices[p] = i
                values[p] = xv
                p += 1
    return indptr, indices, values


@numba.njit(parallel=True, cache=True, nogil=True)
def spmm(indptr, indices, values, wt, bias, has_bias, out):  # pragma: no cover - compiled
    """out[r, :] = bias + sum over events (r, i) of values * wt[i, :]   (wt = W^T [N_in, N_out])."""
    R = out.shape[0]
    n_out = out.shape[1]
    for r in prange(R):
        for o in range(n_out):
            out[r, o] = bias[o] if has_bias else 0
        for p in range(indptr[r], indptr[r + 1]):
            i = indices[p]
            val = values[p]
            for o in range(n_out):
                out[r, o] += val * wt[i, o]


@numba.njit(parallel=True, cache=True, nogil=True)
def spmm_t(indptr, indices, values, g, dwt, cols):  # pragma: no cover - compiled
    """dwt[i, :] = sum over events (r, i) of values * g[r, :]  (dwt zero-filled by the caller).

    Parallel over column blocks of ``cols`` outputs so that no two threads write the same
    entry (one block per thread: ``span``). Rows are taken as 1-d slices, which lets LLVM
    vectorise the inner loop (2-d indexing of dwt and g did not: 7x slower). Every entry
    sums its events in (r, p) order whatever ``cols`` is, so results do not depend on it.
    """
    R = g.shape[0]
    n_out = g.shape[1]
    nblocks = (n_out + cols - 1) // cols
    for b in prange(nblocks):
        lo = b * cols
        hi = min(lo + cols, n_out)
        n = hi - lo
        for r in range(R):
            gr = g[r, lo:hi]
            for p in range(indptr[r], indptr[r + 1]):
                row = dwt[indices[p], lo:hi]
                val = values[p]
                for o in range(n):
                    row[o] += val * gr[o]


def span(n_out: int, threads: int) -> int:
    """Output columns per parallel block of ``spmm_t``: one block per thread, at least COLS."""
    per = (n_out + threads - 1) // max(1, threads)
    return max(COLS, per) if threads > 1 else max(1, n_out)


_PARALLEL = {k.py_func.__name__: k for k in (to_csr, spmm, spmm_t)}
_SERIAL = {name: _serial(k) for name, k in _PARALLEL.items()}


def kernel(name: str, threads: int) -> Any:
    """Kernel ``name`` for ``threads`` numba threads: the serial twin at one thread (a parallel
    launch costs ~0.2 ms even on one thread)."""
    return _SERIAL[name] if threads == 1 else _PARALLEL[name]
