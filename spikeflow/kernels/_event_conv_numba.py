"""Compiled (numba) event-driven 2-d convolution for sparse spike maps (groups = 1).

The input x [N, C, H, W] is compressed to its non-zero entries with ``to_csr`` over rows
r = n * C + c (indices are flat pixel positions iy * W + ix). An event (n, c, iy, ix) with
value v reaches the output positions

    oy = (iy + pad_top - ky * dil_h) / stride_h,   ox = (ix + pad_left - kx * dil_w) / stride_w

for every kernel tap (ky, kx) where the division is exact and (oy, ox) is inside the output.
Forward adds v * W[:, c, ky, kx] to y[n, :, oy, ox]; the weight gradient adds
v * dL/dy[n, :, oy, ox] to dW[:, c, ky, kx]. Both loops visit events only, so their cost is
nnz * (taps reached) * C_out, not N * C * H * W * KH * KW * C_out.

The reachable (tap, output index) pairs of every input row and column are tabulated once per
call (``tap_table``), so the event loops do no integer division. Channels are kept innermost
(weights as [C * KH * KW, C_out], output rows as [OH * OW, C_out]) so the C_out loop runs over
contiguous 1-d slices, which LLVM vectorises. ``forward`` / ``weight_grad`` run the serial
workers directly on one thread (a parallel region costs ~0.1 ms of dispatch even on one thread)
and split samples / output channels over threads otherwise; the summation order of every entry
is the same either way, so results do not depend on the thread count.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from numba import prange


@lru_cache(maxsize=256)
def tap_table(n_in: int, kernel: int, pad: int, dil: int, stride: int, n_out: int) -> np.ndarray:
    """[n_in, 1 + 2 * kernel] int64: per input index i, the count m of kernel taps k that reach an
    output o = (i + pad - k * dil) / stride (exact, inside [0, n_out)), then m pairs (k, o).
    Memoised per geometry: callers must not modify the returned array."""
    i = np.arange(n_in)[:, None]
    t = i + pad - np.arange(kernel)[None, :] * dil
    ok = (t >= 0) & (t % stride == 0) & (t // stride < n_out)
    table = np.zeros((n_in, 1 + 2 * kernel), dtype=np.int64)
    for row in range(n_in):
        ks = np.nonzero(ok[row])[0]
        table[row, 0] = len(ks)
        table[row, 1 : 1 + 2 * len(ks) : 2] = ks
        table[row, 2 : 2 + 2 * len(ks) : 2] = t[row, ks] // stride
    return table


@numba.njit(cache=True, nogil=True)
def forward_chunk(  # pragma: no cover - compiled
    n0, n1, indptr, indices, values, wt, bias, has_bias, out, channels, width, ytab, xtab, kw, ow
):
    """out[n, o, oy * OW + ox] = bias[o] + sum over events of v * wt[(c * KH + ky) * KW + kx, o], n0 <= n < n1.

    out: [N, C_out, OH * OW]; wt: [C * KH * KW, C_out]; ytab / xtab: ``tap_table`` of rows / columns.
    Accumulates one sample at a time in a channels-last scratch [OH * OW, C_out], then transposes it
    into out[n]. Every output entry sums its events in (c, event) order.
    """
    n_out, n_pix = out.shape[1], out.shape[2]
    kh = wt.shape[0] // (channels * kw)
    buf = np.empty((n_pix, n_out), dtype=out.dtype)
    for n in range(n0, n1):
        for q in range(n_pix):
            row = buf[q]
            for o in range(n_out):
                row[o] = bias[o] if has_bias else 0
        for c in range(channels):
            r = n * channels + c
            for p in range(indptr[r], indptr[r + 1]):
                pos = indices[p]
                iy = pos // width
                yt = ytab[iy]
                xt = xtab[pos - iy * width]
                v = values[p]
                for a in range(yt[0]):
                    wy = (c * kh + yt[1 + 2 * a]) * kw
                    qy = yt[2 + 2 * a] * ow
                    for b in range(xt[0]):
                        row = buf[qy + xt[2 + 2 * b]]
                        wrow = wt[wy + xt[1 + 2 * b]]
                        for o in range(n_out):
                            row[o] += v * wrow[o]
        dst = out[n]
        for o in range(n_out):
            drow = dst[o]
            for q in range(n_pix):
                drow[q] = buf[q, o]


@numba.njit(parallel=True, cache=True, nogil=True)
def forward_parallel(  # pragma: no cover - compiled
    indptr, indices, values, wt, bias, has_bias, out, channels, width, ytab, xtab, kw, ow, nchunks
):
    """``forward_chunk`` over ``nchunks`` parallel chunks of samples (results do not depend on it)."""
    n_samples = out.shape[0]
    per = (n_samples + nchunks - 1) // nchunks
    for ch in prange(nchunks):
        forward_chunk(ch * per, min(n_samples, (ch + 1) * per), indptr, indices, values, wt, bias, has_bias,
                      out, channels, width, ytab, xtab, kw, ow)


@numba.njit(cache=True, nogil=True)
def weight_grad_block(lo, hi, indptr, indices, values, g, dwt, width, ytab, xtab, kw, ow):  # pragma: no cover
    """dwt[c, ky * KW + kx, o] += sum over events (n, c, iy, ix) of v * g[n, o, oy * OW + ox], lo <= o < hi.

    g: dL/dy [N, C_out, OH * OW]; dwt: [C, KH * KW, C_out], zero-filled by the caller. The slice
    g[n, lo:hi] is transposed into a channels-last scratch [OH * OW, hi - lo], for samples with
    events only. Every entry sums its events in (n, c, event) order.
    """
    n_samples, n_pix = g.shape[0], g.shape[2]
    channels = dwt.shape[0]
    m = hi - lo
    gbuf = np.empty((n_pix, m), dtype=g.dtype)
    for n in range(n_samples):
        if indptr[n * channels] == indptr[(n + 1) * channels]:
            continue
        gn = g[n]
        for o in range(m):
            src = gn[lo + o]
            for q in range(n_pix):
                gbuf[q, o] = src[q]
        for c in range(channels):
            dc = dwt[c]
            r = n * channels + c
            for p in range(indptr[r], indptr[r + 1]):
                pos = indices[p]
                iy = pos // width
                yt = ytab[iy]
                xt = xtab[pos - iy * width]
                v = values[p]
                for a in range(yt[0]):
                    ky = yt[1 + 2 * a] * kw
                    qy = yt[2 + 2 * a] * ow
                    for b in range(xt[0]):
                        drow = dc[ky + xt[1 + 2 * b], lo:hi]
                        grow = gbuf[qy + xt[2 + 2 * b]]
                        for o in range(m):
                            drow[o] += v * grow[o]


@numba.njit(parallel=True, cache=True, nogil=True)
def weight_grad_parallel(indptr, indices, values, g, dwt, width, ytab, xtab, kw, ow, cols):  # pragma: no cover
    """``weight_grad_block`` over parallel blocks of ``cols`` output channels (no two threads write
    the same entry; results do not depend on ``cols``)."""
    n_out = dwt.shape[2]
    nblocks = (n_out + cols - 1) // cols
    for blk in prange(nblocks):
        lo = blk * cols
        weight_grad_block(lo, min(lo + cols, n_out), indptr, indices, values, g, dwt, width, ytab, xtab, kw, ow)


def forward(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, wt: np.ndarray, bias: np.ndarray, has_bias: bool,
    out: np.ndarray, channels: int, width: int, ytab: np.ndarray, xtab: np.ndarray, kw: int, ow: int, threads: int,
) -> None:
    """Event forward on ``threads`` numba threads (1: serial, on the calling thread)."""
    chunks = max(1, min(out.shape[0], threads))
    if chunks == 1:
        forward_chunk(0, out.shape[0], indptr, indices, values, wt, bias, has_bias, out, channels, width, ytab,
                      xtab, kw, ow)
    else:
        forward_parallel(indptr, indices, values, wt, bias, has_bias, out, channels, width, ytab, xtab, kw, ow,
                         chunks)


def weight_grad(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, g: np.ndarray, dwt: np.ndarray, width: int,
    ytab: np.ndarray, xtab: np.ndarray, kw: int, ow: int, threads: int,
) -> None:
    """Event weight gradient on ``threads`` numba threads (1: on the calling thread)."""
    n_out = dwt.shape[2]
    cols = span(n_out, threads)
    if cols >= n_out:
        weight_grad_block(0, n_out, indptr, indices, values, g, dwt, width, ytab, xtab, kw, ow)
    else:
        weight_grad_parallel(indptr, indices, values, g, dwt, width, ytab, xtab, kw, ow, cols)


def span(n_out: int, threads: int, minimum: int = 16) -> int:
    """Output channels per parallel block of ``weight_grad``: one block per thread, at least ``minimum``."""
    per = (n_out + threads - 1) // max(1, threads)
    return max(minimum, per) if threads > 1 else max(1, n_out)
