"""Compiled (numba) recurrence of the alpha neuron and its backward through time.

Arrays are flattened to [T, M] (M = batch x neurons); parameters are expanded to [M].
Per neuron, from the post-reset state (e, h, w) = (i_exc, i_inh, v)[t-1]:

    E = alpha e + x[t],   I = beta h - x[t],   V = tau (E + I)
    r = H(w - thr)                                   (reset "subtract" or "zero"; delayed only)
    subtract: e' = E - r thr,  h' = I (1 - r),  v' = V + r h
    zero:     e' = E (1 - r),  h' = I (1 - r),  v' = V (1 - r)
    none:     e' = E,          h' = I,          v' = V
    s[t] = H(v' - thr)

The operations follow ``spikeflow.functional.alpha.alpha_step`` in order, so float results
match the reference bit for bit. The kernels work on one chunk of steps at a time: the state
arrays carry the recurrence (forward) and the adjoints (backward) from one chunk to the next.
Each kernel exists parallel over neuron spans and as a serial twin (``kernel(name, threads)``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from ._lif_numba import NONE, SUBTRACT, _serial, span

__all__ = ["alpha_forward", "alpha_backward", "alpha_backward_dx", "kernel", "placeholder", "span"]


def _flags(reset: int, one: Any, zero: Any) -> tuple[Any, Any, Any]:  # pragma: no cover - compiled
    """(on, sub, zer) as 0/1 floats: a reset applies; it subtracts; it zeroes."""
    on = zero if reset == NONE else one
    sub = one if reset == SUBTRACT else zero
    return on, sub, on - sub


_flags_nb = numba.njit(cache=True, nogil=True, inline="always")(_flags)


@numba.njit(parallel=True, cache=True, nogil=True)
def alpha_forward(
    x, e, h, w, alpha, beta, tau, thr, one, zero, reset, traces, blk, etr, htr, vtr, s,
):  # pragma: no cover - compiled
    """Advance (e, h, w) [M] in place over the rows of x [Tc, M].

    Writes v' into vtr and the spikes into s [Tc, M]; with ``traces`` also e', h' into etr, htr
    (else those are [1, 1] placeholders). One branch-free inner loop for every reset mode:
    e' = (E - r sub thr) (1 - r zer), h' = I (1 - r), v' = (V + r sub h) (1 - r zer), where
    multiplying by 1 and adding 0 are exact, so each mode gets the reference's bits.
    """
    Tc, M = x.shape
    on, sub, zer = _flags_nb(reset, one, zero)
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        al = alpha[lo:hi]
        bt = beta[lo:hi]
        ta = tau[lo:hi]
        thb = thr[lo:hi]
        ev = e[lo:hi].copy()
        hv = h[lo:hi].copy()
        wv = w[lo:hi].copy()
        for t in range(Tc):
            xt = x[t, lo:hi]
            vt = vtr[t, lo:hi]
            st = s[t, lo:hi]
            for k in range(n):
                th = thb[k]
                hp = hv[k]
                xx = xt[k]
                r = on if wv[k] - th > 0 else zero
                rs = r * sub
                kz = one - r * zer
                ee = al[k] * ev[k] + xx
                ii = bt[k] * hp - xx
                vv = (ta[k] * (ee + ii) + rs * hp) * kz
                ee = (ee - rs * th) * kz
                ii = ii * (one - r)
                ev[k] = ee
                hv[k] = ii
                wv[k] = vv
                vt[k] = vv
                st[k] = one if vv - th > 0 else zero
            if traces:
                etr[t, lo:hi] = ev
                htr[t, lo:hi] = hv
        e[lo:hi] = ev
        h[lo:hi] = hv
        w[lo:hi] = wv


@numba.njit(parallel=True, cache=True, nogil=True)
def alpha_backward(
    x, etr, htr, vtr, sg, gs, ge, gh, gv, e0, h0, w0, alpha, beta, tau, thr, one, zero,
    reset, detach, blk, lam_e, lam_h, lam_v, dr_io, dx, dalpha, dbeta, dtau, dthr,
):  # pragma: no cover - compiled
    """Backward through one chunk of steps of ``alpha_forward``.

    x, etr, htr, vtr [Tc, M]: the chunk's input and post-reset state; (e0, h0, w0) [M]: the
    state before the chunk. sg: the surrogate derivative at v' - thr, gs: the spike gradient,
    ge, gh, gv: the trace gradients, each [Tc, M] or a single zero row [1, M] when absent.
    Carried across chunks (in/out, [M]): lam_e, lam_h, lam_v = dL/d(e', h', v') after the
    chunk, and dr_io = dL/dr of the step after the chunk (its reset signal is a surrogate
    spike of v', so it joins the spike gradient). dx [Tc, M] is written; dalpha, dbeta, dtau,
    dthr [M] are accumulated.
    """
    Tc, M = x.shape
    on, sub, zer = _flags_nb(reset, one, zero)
    attached = zero if detach else on  # dL/dr flows back through the surrogate
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        al = alpha[lo:hi]
        bt = beta[lo:hi]
        ta = tau[lo:hi]
        thb = thr[lo:hi]
        le_v = lam_e[lo:hi]
        lh_v = lam_h[lo:hi]
        lv_v = lam_v[lo:hi]
        dr_v = dr_io[lo:hi]
        da = dalpha[lo:hi]
        db = dbeta[lo:hi]
        dta = dtau[lo:hi]
        dth = dthr[lo:hi]
        for t in range(Tc - 1, -1, -1):
            xt = x[t, lo:hi]
            dxt = dx[t, lo:hi]
            sgt = sg[t if sg.shape[0] > 1 else 0, lo:hi]
            gst = gs[t if gs.shape[0] > 1 else 0, lo:hi]
            get = ge[t if ge.shape[0] > 1 else 0, lo:hi]
            ght = gh[t if gh.shape[0] > 1 else 0, lo:hi]
            gvt = gv[t if gv.shape[0] > 1 else 0, lo:hi]
            if t > 0:
                ep_r = etr[t - 1, lo:hi]
                hp_r = htr[t - 1, lo:hi]
                wp_r = vtr[t - 1, lo:hi]
            else:
                ep_r = e0[lo:hi]
                hp_r = h0[lo:hi]
                wp_r = w0[lo:hi]
            for k in range(n):
                th = thb[k]
                ak = al[k]
                bk = bt[k]
                tk = ta[k]
                ep = ep_r[k]
                hp = hp_r[k]
                xx = xt[k]
                ee = ak * ep + xx
                ii = bk * hp - xx
                vv = tk * (ee + ii)
                r = on if wp_r[k] - th > 0 else zero
                rs = r * sub
                kz = one - r * zer
                le = le_v[k] + get[k]
                lh = lh_v[k] + ght[k]
                g = (dr_v[k] + gst[k]) * sgt[k]
                lv = lv_v[k] + gvt[k] + g
                d_e = le * kz
                d_i = lh * (one - r)
                d_v = lv * kz
                dth[k] -= g + d_e * rs
                dr = lv * (sub * hp - zer * vv) - le * (sub * th + zer * ee) - lh * ii
                dta[k] += d_v * (ee + ii)
                d_e += d_v * tk
                d_i += d_v * tk
                da[k] += d_e * ep
                db[k] += d_i * hp
                dxt[k] = d_e - d_i
                le_v[k] = d_e * ak
                lh_v[k] = d_i * bk + d_v * rs
                lv_v[k] = zero
                dr_v[k] = dr * attached


@numba.njit(parallel=True, cache=True, nogil=True)
def alpha_backward_dx(g, vtr, w0, alpha, beta, tau, thr, one, zero, reset, blk, lam_e, lam_h, dx):
    # pragma: no cover - compiled
    """``alpha_backward`` for the common training case: detached (or no) reset, no trace and
    no parameter gradients. g [Tc, M] = dL/dv' of each step from outside the recurrence (the
    spike gradient times the surrogate derivative, plus the final-state gradient on the last
    step); vtr [Tc, M] the chunk's membranes and w0 [M] the one before it. lam_e, lam_h [M]
    (in/out) carry dL/d(i_exc, i_inh) across chunks; dx [Tc, M] is written.
    """
    Tc, M = g.shape
    on, sub, zer = _flags_nb(reset, one, zero)
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        al = alpha[lo:hi]
        bt = beta[lo:hi]
        ta = tau[lo:hi]
        thb = thr[lo:hi]
        le = lam_e[lo:hi].copy()
        lh = lam_h[lo:hi].copy()
        for t in range(Tc - 1, -1, -1):
            gt = g[t, lo:hi]
            dxt = dx[t, lo:hi]
            wp = vtr[t - 1, lo:hi] if t > 0 else w0[lo:hi]
            for k in range(n):
                r = on if wp[k] - thb[k] > 0 else zero
                kz = one - r * zer
                d_v = gt[k] * kz
                d_e = le[k] * kz + d_v * ta[k]
                d_i = lh[k] * (one - r) + d_v * ta[k]
                dxt[k] = d_e - d_i
                le[k] = d_e * al[k]
                lh[k] = d_i * bt[k] + d_v * (r * sub)
        lam_e[lo:hi] = le
        lam_h[lo:hi] = lh


_PARALLEL = {"alpha_forward": alpha_forward, "alpha_backward": alpha_backward, "alpha_backward_dx": alpha_backward_dx}
_SERIAL = {name: _serial(k) for name, k in _PARALLEL.items()}


def kernel(name: str, threads: int) -> Any:
    """Kernel ``name`` for ``threads`` numba threads (the serial twin at one thread)."""
    return _SERIAL[name] if threads == 1 else _PARALLEL[name]


def placeholder(dtype: Any) -> np.ndarray:
    """A [1, 1] array for arguments a configuration does not use."""
    return np.zeros((1, 1), dtype=dtype)
