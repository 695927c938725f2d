"""Compiled (numba) recurrences of the adaptive-threshold LIF (ALIF).

Arrays are flattened to [T, M] (M = batch x neurons); parameters and states are expanded to
[M]. Per neuron, with z[-1] = z0 (any float, carries gradient) and z[t] = s[t] after:

    a[t] = rho a[t-1] + adaptation z[t-1],   b[t] = thr + a[t]
    u[t] = beta v[t-1] + x[t] - z[t-1] b[t-1]          (subtract, delayed)
    u[t] = beta v[t-1] + x[t] - beta z[t-1] v[t-1]     (zero, delayed)
    u[t] = beta v[t-1] + x[t]                          (none, or same-step reset)
    s[t] = H(u[t] - b[t])
    v[t] = u[t] - s[t] b[t]  |  u[t] (1 - s[t])  |  u[t]   (same-step subtract / zero / else)

Operations follow ``spikeflow.functional.adaptive_step`` in order, so float results match
the reference bit for bit. The inner loops are branch-free: each reset rule is weighted by a
0/1 flag (``_flags``), which leaves every value unchanged (x - 0 * y == x, 1 * y == y) and
lets LLVM vectorise them. The forward keeps u [T, M] and a checkpoint of a every ``L``
steps; the backward rebuilds a (and from it s, b and v) one chunk of steps at a time
(``adaptive_rebuild``) and walks the chunk backwards (``adaptive_backward``), with the
surrogate derivative either given (sg [Tc, M], computed in torch by the caller and applied
in a loop of its own, ``_spike_row``) or evaluated inline from a surrogate's
``kernel_formula`` (``with_formula``).

Every kernel exists twice: parallel over neuron spans (``prange``) and a serial twin
(``kernel(name, threads)``).
"""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np
from numba import prange

from ._lif_numba import _serial, _twin

# reset codes (as _cpu_util.RESET_CODE)
NONE, SUBTRACT, ZERO = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _flags(reset, delayed, one, zero):  # pragma: no cover - compiled
    """0/1 weights of the reset rules: same-step subtract, same-step zero, delayed subtract, delayed zero."""
    same = reset != NONE and not delayed
    late = reset != NONE and delayed
    return (
        one if same and reset == SUBTRACT else zero,
        one if same and reset == ZERO else zero,
        one if late and reset == SUBTRACT else zero,
        one if late and reset == ZERO else zero,
    )


@numba.njit(cache=True, nogil=True)
def _forward_row(xt, v, a, z, thb, btb, rhb, adb, one, zero, ss, sz, ds, dz, ut, st, n):  # pragma: no cover
    """One step for a span of n neurons; v, a, z (the state) are updated in place."""
    for k in range(n):
        th = thb[k]
        bt = btb[k]
        ap = a[k]
        zp = z[k]
        vp = v[k]
        bp = th + ap
        an = rhb[k] * ap + adb[k] * zp
        b = th + an
        uu = bt * vp + xt[k]
        uu = uu - ds * zp * bp  # delayed subtract: u - z[t-1] b[t-1]
        uu = uu - bt * (dz * zp) * vp  # delayed zero: u - beta z[t-1] v[t-1]
        ut[k] = uu
        sp = one if uu - b > 0 else zero
        st[k] = sp
        vn = uu - ss * sp * b  # same-step subtract
        v[k] = vn * (one - sz * sp)  # same-step zero
        a[k] = an
        z[k] = sp


@numba.njit(parallel=True, cache=True, nogil=True)
def adaptive_forward(
    x, v0, a0, z0, beta, rho, adp, thr, one, zero, reset, delayed, record, L, blk,
    u, s, vtr, atr, ckpt, v_fin, a_fin,
):  # pragma: no cover - compiled
    """Fill u, s [T, M], ckpt [C, M] (a entering steps 0, L, 2L, ...), v_fin, a_fin [M];
    with ``record`` also atr [T, M] and (same-step reset only) the post-reset vtr [T, M]."""
    T, M = x.shape
    nblocks = (M + blk - 1) // blk
    keep_v = record and not delayed and reset != NONE
    ss, sz, ds, dz = _flags(reset, delayed, one, zero)
    for bi in prange(nblocks):
        lo = bi * blk
        hi = min(lo + blk, M)
        n = hi - lo
        v = v0[lo:hi].copy()
        a = a0[lo:hi].copy()
        z = z0[lo:hi].copy()
        for t in range(T):
            if t % L == 0:
                ckpt[t // L, lo:hi] = a
            _forward_row(x[t, lo:hi], v, a, z, thr[lo:hi], beta[lo:hi], rho[lo:hi], adp[lo:hi], one, zero,
                         ss, sz, ds, dz, u[t, lo:hi], s[t, lo:hi], n)
            if keep_v:
                vtr[t, lo:hi] = v
            if record:
                atr[t, lo:hi] = a
        v_fin[lo:hi] = v
        a_fin[lo:hi] = a


@numba.njit(parallel=True, cache=True, nogil=True)
def adaptive_rebuild(u, a_in, z0, rho, adp, thr, one, zero, t0, blk, want_sh, abuf, shbuf):
    # pragma: no cover - compiled
    """abuf[t - t0] = a[t] for the steps t0 .. t0 + len(abuf) - 1, from a_in = a[t0 - 1]
    (a checkpoint; a0 when t0 == 0) and z[t0 - 1] = H(u[t0 - 1] - thr - a[t0 - 1]) (z0 when t0 == 0).
    With ``want_sh`` also shbuf[t - t0] = u[t] - b[t] (the surrogate's argument)."""
    Tc, M = abuf.shape
    nblocks = (M + blk - 1) // blk
    for bi in prange(nblocks):
        lo = bi * blk
        hi = min(lo + blk, M)
        n = hi - lo
        a = a_in[lo:hi].copy()
        thb = thr[lo:hi]
        rhb = rho[lo:hi]
        adb = adp[lo:hi]
        z = z0[lo:hi].copy()
        if t0 > 0:
            up = u[t0 - 1, lo:hi]
            for k in range(n):
                z[k] = one if up[k] - (thb[k] + a[k]) > 0 else zero
        sh = np.empty(n, dtype=abuf.dtype)
        for j in range(Tc):
            ut = u[t0 + j, lo:hi]
            ab = abuf[j, lo:hi]
            for k in range(n):
                an = rhb[k] * a[k] + adb[k] * z[k]
                ab[k] = an
                a[k] = an
                shk = ut[k] - (thb[k] + an)
                sh[k] = shk
                z[k] = one if shk > 0 else zero
            if want_sh:
                shbuf[j, lo:hi] = sh


@numba.njit(nogil=True, cache=True)
def _spike_input(lzk, gsk, gv, b, uu, nd, ss, sz):  # pragma: no cover - compiled
    """dL/ds[t]: from z[t] (lzk), the output (gsk) and, not detached, the same-step reset
    v[t] = u[t] - s b[t]  |  u[t] (1 - s)  (gv = dL/dv[t])."""
    return lzk + gsk - nd * (ss * (gv * b) + sz * (gv * uu))


@numba.njit(nogil=True, cache=True)
def _sgf(g_given, gsp, x, spike, one):  # pragma: no cover - compiled
    """dL/du through the spike, gsp * surrogate'(x): here given (``_spike_row`` computed it from
    the sg array). ``with_formula`` builds variants where this global evaluates a surrogate's
    ``kernel_formula`` instead (and g_given is ignored)."""
    return g_given


@numba.njit(cache=True, nogil=True)
def _spike_row(gst, gvt, ut, at, sgt, thb, lv, lz, nd, ss, sz, g, n):  # pragma: no cover - compiled
    """g = dL/ds[t] * sg[t] for a span of n neurons, in its own loop: reading the sg array
    in ``_back_row`` stops LLVM from vectorising that loop (measured 3x slower)."""
    for k in range(n):
        g[k] = _spike_input(lz[k], gst[k], lv[k] + gvt[k], thb[k] + at[k], ut[k], nd, ss, sz) * sgt[k]


@numba.njit(cache=True, nogil=True)
def _previous_row(up, ap, thb, one, zero, ss, sz, zp, vp, n):  # pragma: no cover - compiled
    """z[t-1] and the post-reset v[t-1] rebuilt from u[t-1] and a[t-1] (bit for bit)."""
    for k in range(n):
        bp = thb[k] + ap[k]
        upk = up[k]
        sp = one if upk - bp > 0 else zero
        zp[k] = sp
        vn = upk - ss * sp * bp
        vp[k] = vn * (one - sz * sp)


@numba.njit(cache=True, nogil=True)
def _back_row(
    gst, gvt, gat, ut, at, gg, ap, zp, vp, thb, btb, rhb, adb, one, zero, ss, sz, ds, dz, nd,
    lv, la, lz, dxt, db, dr, dd, dth, sgc, n,
):  # pragma: no cover - compiled
    """One step backwards for a span of n neurons.

    gst, gvt, gat: incoming gradients of s[t], v[t], a[t] (zero rows when absent); ut, at: u[t],
    a[t]; gg: dL/ds[t] * sg[t] from ``_spike_row`` (unread in a ``with_formula`` variant); ap,
    zp, vp: a, z and post-reset v of step t-1; lv, la, lz: dL/dv, dL/da, dL/dz after
    the step on entry, before it on exit; dxt receives dL/dx[t]; db, dr, dd, dth accumulate
    the beta, rho, adaptation and threshold gradients; nd = 1 where the reset is not detached.
    """
    for k in range(n):
        th = thb[k]
        bt = btb[k]
        uu = ut[k]
        b = th + at[k]
        sh = uu - b
        sp = one if sh > 0 else zero
        apk = ap[k]
        zpk = zp[k]
        vpk = vp[k]
        bp = th + apk
        gv = lv[k] + gvt[k]
        gvs = gv * sp
        # s[t] = H(u[t] - b[t]); v[t] = u[t] - s b[t]  |  u[t] (1 - s): the same-step reset
        g = _sgf(gg[k], _spike_input(lz[k], gst[k], gv, b, uu, nd, ss, sz), sh, sp, *sgc)
        du = gv - sz * gvs + g
        dbt = -(ss * gvs) - g
        # b[t] = thr + a[t];  a[t] = rho a[t-1] + adaptation z[t-1]
        dat = la[k] + gat[k] + dbt
        dr[k] += dat * apk
        dd[k] += dat * zpk
        # u[t] = beta v[t-1] + x[t] - z[t-1] b[t-1]  |  - beta z[t-1] v[t-1]
        dxt[k] = du
        dbp = -(ds * zpk) * du
        dth[k] += dbt + dbp
        la[k] = rhb[k] * dat + dbp
        lz[k] = adb[k] * dat - nd * (ds * (du * bp) + dz * (du * bt * vpk))
        lv[k] = bt * du - dz * (du * bt * zpk)
        db[k] += du * vpk - dz * (du * zpk * vpk)


@numba.njit(parallel=True, cache=True, nogil=True)
def adaptive_backward(
    gs, gvtr, gatr, u, abuf, sg, a_in, v0, z0, beta, rho, adp, thr, one, zero,
    reset, delayed, detach, has_gs, has_vtr, has_atr, has_sg, t0, blk,
    dx, lam_v, lam_a, lam_z, dbeta, drho, dadp, dthr, sgc,
):  # pragma: no cover - compiled
    """Steps t0 + len(abuf) - 1 down to t0 of the backward through time.

    gs, gvtr, gatr, u, dx are full [T, M] arrays (gs / gvtr / gatr [1, 1] placeholders when
    their flag is off); abuf [Tc, M] holds a[t] of the chunk; sg [Tc, M] the surrogate
    derivative (without has_sg, in a ``with_formula`` variant, a [1, M] placeholder, and sgc
    carries the formula's constants); a_in [M] is a[t0 - 1]. lam_v, lam_a, lam_z [M] hold
    dL/dv, dL/da, dL/dz after the chunk on entry and before it on exit; dbeta, drho, dadp,
    dthr [M] accumulate.
    """
    Tc, M = abuf.shape
    nblocks = (M + blk - 1) // blk
    ss, sz, ds, dz = _flags(reset, delayed, one, zero)
    nd = zero if detach else one
    for bi in prange(nblocks):
        lo = bi * blk
        hi = min(lo + blk, M)
        n = hi - lo
        none = np.zeros(n, dtype=u.dtype)
        gg = np.zeros(n, dtype=u.dtype)
        zp = np.empty(n, dtype=u.dtype)
        vp = np.empty(n, dtype=u.dtype)
        thb = thr[lo:hi]
        for j in range(Tc - 1, -1, -1):
            t = t0 + j
            ap = abuf[j - 1, lo:hi] if j > 0 else a_in[lo:hi]
            if t > 0:
                _previous_row(u[t - 1, lo:hi], ap, thb, one, zero, ss, sz, zp, vp, n)
            else:
                zp[:] = z0[lo:hi]
                vp[:] = v0[lo:hi]
            gst = gs[t, lo:hi] if has_gs else none
            gvt = gvtr[t, lo:hi] if has_vtr else none
            if has_sg:
                _spike_row(gst, gvt, u[t, lo:hi], abuf[j, lo:hi], sg[j, lo:hi], thb, lam_v[lo:hi], lam_z[lo:hi],
                           nd, ss, sz, gg, n)
            _back_row(
                gst, gvt, gatr[t, lo:hi] if has_atr else none, u[t, lo:hi], abuf[j, lo:hi], gg, ap, zp, vp, thb,
                beta[lo:hi], rho[lo:hi], adp[lo:hi], one, zero, ss, sz, ds, dz, nd, lam_v[lo:hi], lam_a[lo:hi],
                lam_z[lo:hi], dx[t, lo:hi], dbeta[lo:hi], drho[lo:hi], dadp[lo:hi], dthr[lo:hi], sgc, n,
            )


_PARALLEL = {k.py_func.__name__: k for k in (adaptive_forward, adaptive_rebuild, adaptive_backward)}
_SERIAL = {name: _serial(k) for name, k in _PARALLEL.items()}


def kernel(name: str, threads: int) -> Any:
    """Kernel ``name`` for ``threads`` numba threads (the serial twin at one thread)."""
    return _SERIAL[name] if threads == 1 else _PARALLEL[name]


@functools.lru_cache(maxsize=None)
def with_formula(formula: Any, threads: int) -> Any:
    """``adaptive_backward`` evaluating the scalar surrogate ``formula(x, spike, *consts)`` inline.

    Compiled once per process and formula, not cached on disk (numba's cache could not see a
    change of the formula, which lives in another module).
    """
    f = numba.njit(nogil=True, error_model="numpy")(formula)

    def sgf(g_given, gsp, x, spike, *consts):  # pragma: no cover - compiled
        return gsp * f(x, spike, *consts)

    row = numba.njit(nogil=True, error_model="numpy")(
        _twin(_back_row, "_formula", {"_sgf": numba.njit(nogil=True, error_model="numpy")(sgf)})
    )
    twin = _twin(adaptive_backward, "_formula", {"_back_row": row})
    return numba.njit(parallel=threads > 1, nogil=True, error_model="numpy")(twin)
