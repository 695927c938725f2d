"""Compiled (numba) event-driven synaptic accumulation for sparse spike inputs.

x [R, N_in] is compressed row by row to its non-zero entries (CSR: indptr, indices, values);
the forward adds weight columns of active inputs only, and the weight gradient only touches
rows of W^T that belong to active inputs. Costs scale with the number of events, not R x N_in.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

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
def spmm_t(indptr, indices, values, g, dwt):  # pragma: no cover - compiled
    """dwt[i, :] = sum over events (r, i) of values * g[r, :]  (dwt zero-filled by the caller).

    Parallel over column blocks of the output so that no two threads write the same entry.
    """
    R = g.shape[0]
    n_out = g.shape[1]
    nblocks = (n_out + COLS - 1) // COLS
    for b in prange(nblocks):
        lo = b * COLS
        hi = min(lo + COLS, n_out)
        for r in range(R):
            for p in range(indptr[r], indptr[r + 1]):
                i = indices[p]
                val = values[p]
                for o in range(lo, hi):
                    dwt[i, o] += val * g[r, o]
