"""Compiled (numba) recurrences of RLeaky and RSynaptic, forward and backward through time.

Arrays are flattened to [T, M]; M is cut into rows of ``blk`` neurons walked over time
independently (``prange`` over rows). Per neuron, step t:

    rec[t]  = v_scale s[t-1]  (one-to-one)  |  W s[t-1] + b  (all-to-all: given by the caller)
    RLeaky:     p[t] = beta v[t-1] + x[t] + rec[t]
    RSynaptic:  i[t] = alpha i[t-1] + x[t] + rec[t],  p[t] = beta v[t-1] + i[t]
    r[t] = H(v[t-1] - thr)                                    (delayed reset only; else 0)
    u[t] = p[t] - r[t] thr  (subtract)  |  p[t] (1 - r[t])  (zero)  |  p[t]  (none)
    z[t] = H(u[t] - thr),  s[t] = graded z[t]
    v[t] = u[t] - z[t] thr  |  u[t] (1 - z[t])  |  u[t]      (same-step reset / delayed or none)

The operations follow ``spikeflow.functional.recurrent`` in order, so results equal the
reference bit for bit (the all-to-all product is torch's ``F.linear``, as in the reference).
The kernels take a step range [t0, t1) and carry the recursion in [M] arrays between calls,
so the all-to-all case runs one step per call with the matrix product in between. The
backward takes the surrogate derivative sg[t] = surrogate.grad(u[t] - thr, z[t]) from the
caller (vectorised torch, or ``surrogate_kernel`` for a surrogate's ``kernel_formula``).
"""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np
from numba import prange

from ._cpu_util import _serial

NONE, SUBTRACT, ZERO = 0, 1, 2


@numba.njit(parallel=True, cache=True, nogil=True)
def recurrent_forward(
    t0, t1, x, rec_in, alpha, beta, thr, graded, vscale, one, zero, reset, delayed, second, keep_p, blk,
    v, cur, sprev, work, u, out, itr, ptr,
):  # pragma: no cover - compiled
    """Steps t0 .. t1-1: fill u[t], out[t] (itr[t] when second, ptr[t] = p[t] when keep_p).

    The [M] arrays v, cur, sprev carry the membrane, current and last output between calls
    (updated in place). The feedback is rec_in [M] when it has M entries (all-to-all: W s + b
    computed by the caller for this single step), else v_scale [M] * sprev (one-to-one).
    itr may have a single row when the current trace is not kept (each step writes row 0).
    work [2, M] is workspace.
    """
    T, M = x.shape
    nrows = (M + blk - 1) // blk
    given = rec_in.shape[0] == M
    delayed_reset = reset != NONE and delayed
    for row in prange(nrows):
        lo = row * blk
        hi = min(lo + blk, M)
        n = hi - lo
        vr = v[lo:hi]
        cr = cur[lo:hi]
        sr = sprev[lo:hi]
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        alb = alpha[lo:hi]
        grb = graded[lo:hi]
        vsb = vscale[lo:hi] if not given else vscale[0:1]
        rec = rec_in[lo:hi] if given else work[0, lo:hi]
        pb = work[1, lo:hi]
        # simple loops with the flags hoisted out of them, so that LLVM vectorises them
        for t in range(t0, t1):
            if not given:
                for k in range(n):
                    rec[k] = sr[k] * vsb[k]
            xt = x[t, lo:hi]
            if second:
                it = itr[t if itr.shape[0] == T else 0, lo:hi]
                for k in range(n):
                    c = alb[k] * cr[k] + xt[k] + rec[k]
                    cr[k] = c
                    it[k] = c
                    pb[k] = btb[k] * vr[k] + c
            else:
                for k in range(n):
                    pb[k] = btb[k] * vr[k] + xt[k] + rec[k]
            if keep_p:
                pt = ptr[t, lo:hi]
                for k in range(n):
                    pt[k] = pb[k]
            ut = u[t, lo:hi]
            ot = out[t, lo:hi]
            for k in range(n):
                th = thb[k]
                p = pb[k]
                if delayed_reset:
                    r = one if vr[k] - th > zero else zero
                    uu = p - r * th if reset == SUBTRACT else p * (one - r)
                else:
                    uu = p
                ut[k] = uu
                z = one if uu - th > zero else zero
                o = z * grb[k]
                ot[k] = o
                sr[k] = o
                if reset == NONE or delayed:
                    vr[k] = uu
                elif reset == SUBTRACT:
                    vr[k] = uu - z * th
                else:
                    vr[k] = uu * (one - z)


@numba.njit(parallel=True, cache=True, nogil=True)
def recurrent_backward(
    t0, t1, gout, gvtr, gitr, u, sg, sg0, itr, ptr, s0, v0, i0, alpha, beta, thr, graded, vscale,
    one, zero, reset, delayed, second, detach, dense, keep_p, has_gout, has_vtr, has_itr, blk,
    dx, lam, mu, gfb, dalpha, dbeta, dthr, dgraded, dvscale, scratch,
):  # pragma: no cover - compiled
    """Steps t1-1 down to t0 of the backward through time of ``recurrent_forward``.

    Writes dx[t] (which is also dL/drec[t]). The [M] arrays carry the recursion between
    calls: lam = dL/dv[t] (post-reset membrane), mu = dL/di[t] from step t+1 (second order),
    gfb = dL/ds[t] through the feedback of step t+1 (set by the caller, as dx[t+1] W, when
    dense; computed here as dx[t+1] v_scale otherwise); dalpha, dbeta, dthr, dgraded, dvscale
    accumulate. ptr holds p[t] when keep_p (RLeaky with zero, delayed, attached reset).
    itr holds i[t] of RSynaptic, or one scratch row (dalpha is then left at 0). gout may have
    one row, the same for every step (the gradient of out.sum() is expanded over time).
    scratch [5, M] is workspace.
    """
    T, M = u.shape
    nrows = (M + blk - 1) // blk
    same_step = reset != NONE and not delayed
    delayed_reset = reset != NONE and delayed
    attached = delayed_reset and not detach
    # delayed (or no) detached reset and no membrane-trace gradient: one fused loop per step
    fast = not same_step and not attached and not has_vtr
    rf = one if delayed_reset else zero  # the delayed reset signal is r rf
    sf = one if reset == SUBTRACT else zero
    zf = one if reset == ZERO else zero
    for row in prange(nrows):
        lo = row * blk
        hi = min(lo + blk, M)
        n = hi - lo
        lm = lam[lo:hi]
        mm = mu[lo:hi]
        gf = gfb[lo:hi]
        da = dalpha[lo:hi]
        db = dbeta[lo:hi]
        dth = dthr[lo:hi]
        dgr = dgraded[lo:hi]
        dvs = dvscale[lo:hi]
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        alb = alpha[lo:hi]
        grb = graded[lo:hi]
        vsb = vscale[lo:hi] if not dense else vscale[0:1]
        s0b = s0[lo:hi]
        # per-step scratch: dL/dz, dL/du, dL/dp, dL/dv (several uses), the previous post-reset v
        gz = scratch[0, lo:hi]
        du = scratch[1, lo:hi]
        dp = scratch[2, lo:hi]
        dv = scratch[3, lo:hi]
        vpb = scratch[4, lo:hi]
        # one simple loop per term, each branch hoisted out of it, so that LLVM vectorises them
        for t in range(t1 - 1, t0 - 1, -1):
            ut = u[t, lo:hi]
            dxt = dx[t, lo:hi]
            sgt = sg[t, lo:hi]
            if t > 0:
                up = u[t - 1, lo:hi]
                sgp = sg[t - 1, lo:hi]
            else:
                up = v0[lo:hi]
                sgp = sg0[lo:hi]
            if fast:  # the passes below fused; r rf, (1 - r zf) and r sf select the reset mode exactly
                got = gout[t if gout.shape[0] == T else 0, lo:hi] if has_gout else gout[0, 0:1]
                for k in range(n):
                    th = thb[k]
                    z = one if ut[k] - th > zero else zero
                    gs = gf[k] + got[k] if has_gout else gf[k]
                    dgr[k] += gs * z
                    g = gs * grb[k] * sgt[k]
                    d = lm[k] + g
                    dth[k] -= g
                    vq = up[k]
                    r = (one if vq - th > zero else zero) * rf
                    q = d * (one - r * zf)
                    dth[k] -= d * (r * sf)
                    lm[k] = q * btb[k]
                    db[k] += q * vq
                    dxt[k] = q
            else:
                # s[t] = graded z[t]: dL/ds = feedback (+ output gradient)
                if has_gout:
                    got = gout[t if gout.shape[0] == T else 0, lo:hi]
                    for k in range(n):
                        gs = gf[k] + got[k]
                        z = one if ut[k] - thb[k] > zero else zero
                        dgr[k] += gs * z
                        gz[k] = gs * grb[k]
                else:
                    for k in range(n):
                        gs = gf[k]
                        z = one if ut[k] - thb[k] > zero else zero
                        dgr[k] += gs * z
                        gz[k] = gs * grb[k]
                # v[t] = reset(u[t], z[t])
                if has_vtr:
                    gvt = gvtr[t, lo:hi]
                    for k in range(n):
                        dv[k] = lm[k] + gvt[k]
                else:
                    for k in range(n):
                        dv[k] = lm[k]
                if same_step and reset == SUBTRACT:
                    for k in range(n):
                        z = one if ut[k] - thb[k] > zero else zero
                        dth[k] -= dv[k] * z
                        du[k] = dv[k]
                    if not detach:
                        for k in range(n):
                            gz[k] -= dv[k] * thb[k]
                elif same_step:
                    for k in range(n):
                        z = one if ut[k] - thb[k] > zero else zero
                        du[k] = dv[k] * (one - z)
                    if not detach:
                        for k in range(n):
                            gz[k] -= dv[k] * ut[k]
                else:
                    for k in range(n):
                        du[k] = dv[k]
                # z[t] = H(u[t] - thr)
                for k in range(n):
                    g = gz[k] * sgt[k]
                    du[k] += g
                    dth[k] -= g
                # previous post-reset membrane
                if t > 0 and same_step:
                    for k in range(n):
                        zp = one if up[k] - thb[k] > zero else zero
                        vpb[k] = up[k] - zp * thb[k] if reset == SUBTRACT else up[k] * (one - zp)
                    vp = vpb
                else:
                    vp = up
                # u[t] = delayed_reset(p[t], r[t]),  r[t] = H(v[t-1] - thr)
                if delayed_reset and reset == SUBTRACT:
                    for k in range(n):
                        r = one if vp[k] - thb[k] > zero else zero
                        dp[k] = du[k]
                        dth[k] -= du[k] * r
                    if attached:
                        for k in range(n):
                            dr = -du[k] * thb[k]
                            dv[k] = dr * sgp[k]
                            dth[k] -= dr * sgp[k]
                elif delayed_reset:
                    for k in range(n):
                        r = one if vp[k] - thb[k] > zero else zero
                        dp[k] = du[k] * (one - r)
                    if attached and second:
                        it = itr[t, lo:hi]
                        for k in range(n):
                            dr = -du[k] * (btb[k] * vp[k] + it[k])
                            dv[k] = dr * sgp[k]
                            dth[k] -= dr * sgp[k]
                    elif attached:
                        pt = ptr[t, lo:hi]
                        for k in range(n):
                            dr = -du[k] * pt[k]
                            dv[k] = dr * sgp[k]
                            dth[k] -= dr * sgp[k]
                else:
                    for k in range(n):
                        dp[k] = du[k]
                # p[t] = beta v[t-1] + (x[t] + rec[t]  |  i[t])
                if attached:
                    for k in range(n):
                        lm[k] = dv[k] + dp[k] * btb[k]
                        db[k] += dp[k] * vp[k]
                else:
                    for k in range(n):
                        lm[k] = dp[k] * btb[k]
                        db[k] += dp[k] * vp[k]
                for k in range(n):
                    dxt[k] = dp[k]
            # i[t] = alpha i[t-1] + x[t] + rec[t]; dxt holds dL/dp here
            if second:
                if has_itr:
                    git = gitr[t, lo:hi]
                    for k in range(n):
                        di = dxt[k] + mm[k] + git[k]
                        dxt[k] = di
                        mm[k] = alb[k] * di
                else:
                    for k in range(n):
                        di = dxt[k] + mm[k]
                        dxt[k] = di
                        mm[k] = alb[k] * di
                if itr.shape[0] == T:  # dL/dalpha: the current trace is kept when alpha needs it
                    ip = itr[t - 1, lo:hi] if t > 0 else i0[lo:hi]
                    for k in range(n):
                        da[k] += dxt[k] * ip[k]
            # rec[t] = v_scale s[t-1]
            if not dense and t > 0:
                for k in range(n):
                    zp = one if up[k] - thb[k] > zero else zero
                    dvs[k] += dxt[k] * (zp * grb[k])
                    gf[k] = dxt[k] * vsb[k]
            elif not dense:
                for k in range(n):
                    dvs[k] += dxt[k] * s0b[k]
                    gf[k] = dxt[k] * vsb[k]


@numba.njit(cache=True, nogil=True)
def weight_grad(u, thr, graded, s0, dx, n, one, zero, dwt):  # pragma: no cover - compiled
    """dwt[j, :] += sum over t and samples of s[t-1, j] dx[t, :]  (dW transposed, [N, N]).

    s[t-1] is s0 at t = 0, else graded H(u[t-1] - thr), recomputed from u. Only the inputs
    that spiked are visited (spikes are sparse: far less work than a dense GEMM), input by
    input, so that each row of dwt is read and written once per step for all samples.
    """
    T, M = u.shape
    rows = M // n
    sv = np.empty((rows, n), dtype=u.dtype)
    act = np.empty(rows, dtype=np.int64)
    for t in range(T):
        if t > 0:
            up = u[t - 1]
            for b in range(rows):
                for j in range(n):
                    k = b * n + j
                    sv[b, j] = (one if up[k] - thr[k] > zero else zero) * graded[k]
        else:
            for b in range(rows):
                for j in range(n):
                    sv[b, j] = s0[b * n + j]
        g = dx[t]
        for j in range(n):
            c = 0
            for b in range(rows):  # branch-free compaction of the samples where input j spiked
                act[c] = b
                c += 1 if sv[b, j] != zero else 0
            row = dwt[j]
            q = 0
            while q + 2 <= c:
                b0, b1 = act[q], act[q + 1]
                sa, sb = sv[b0, j], sv[b1, j]
                ga, gb = g[b0 * n:(b0 + 1) * n], g[b1 * n:(b1 + 1) * n]
                for i in range(n):
                    row[i] += sa * ga[i] + sb * gb[i]
                q += 2
            if q < c:
                b0 = act[q]
                sa, ga = sv[b0, j], g[b0 * n:(b0 + 1) * n]
                for i in range(n):
                    row[i] += sa * ga[i]


@functools.lru_cache(maxsize=None)
def surrogate_kernel(formula: Any) -> Any:
    """A compiled ``(u, thr, one, zero, consts, sg)`` filling sg[t] = formula(u[t] - thr, H(u[t] - thr), *consts)
    over [T, M]: one pass instead of several torch ops. Compiled once per process and formula
    (not cached on disk: numba's cache could not see a change of a formula in another module)."""
    sgf = numba.njit(nogil=True, error_model="numpy")(formula)

    @numba.njit(nogil=True, error_model="numpy")
    def rows(u, thr, one, zero, consts, sg):  # pragma: no cover - compiled
        T, M = u.shape
        for t in range(T):
            ut = u[t]
            st = sg[t]
            for k in range(M):
                sh = ut[k] - thr[k]
                st[k] = sgf(sh, one if sh > zero else zero, *consts)

    return rows


_PARALLEL = {k.py_func.__name__: k for k in (recurrent_forward, recurrent_backward)}
_SERIAL = {name: _serial(k) for name, k in _PARALLEL.items()}


def kernel(name: str, threads: int) -> Any:
    """Kernel ``name`` for ``threads`` numba threads (the serial twin at one thread)."""
    return _SERIAL[name] if threads == 1 else _PARALLEL[name]
