"""Compiled (numba) recurrences of the first- and second-order LIF family.

One forward and one backward kernel cover Leaky, IF, Lapicque, Synaptic, LI and CUBA-LI.
Arrays are flattened to [T, M] (M = batch x neurons); parameters are expanded to [M].
Per neuron, with inp[t] = x[t] (first order) or i[t] = alpha i[t-1] + x[t] (second order):

    r[t] = H(v[t-1] - thr)                         (delayed reset only; else 0)
    u[t] = beta v[t-1] + inp[t] - r[t] thr          (subtract)
    u[t] = beta (1 - r[t]) v[t-1] + inp[t]          (zero, keeps the input: Leaky)
    u[t] = (beta v[t-1] + inp[t]) (1 - r[t])        (zero, clears the input: Synaptic, Lapicque)
    s[t] = H(u[t] - thr)
    v[t] = u[t] - s[t] thr  |  u[t] (1 - s[t])  |  u[t]   (same-step reset / delayed or none)

Every operation is written in the order of ``spikeflow.functional`` so that float results
match the reference bit for bit. The surrogate derivative is mostly not computed here: the
caller passes sg[t] = surrogate.grad(u[t] - thr, s[t]) (vectorised torch), so any surrogate
works; ``leaky_backward_dx`` instead evaluates a surrogate's scalar ``kernel_formula`` inline.

Every kernel exists twice: parallel over neuron spans (``prange``) and a serial twin used at
one thread (``kernel(name, threads)``).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import numba
import numpy as np
from numba import prange

# reset codes
NONE, SUBTRACT, ZERO = 0, 1, 2
BLOCK = 64  # spans are multiples of this many neurons (cache-line aligned for float32/64)


def span(m: int, threads: int) -> int:
    """Neurons per parallel chunk (``blk`` argument of the kernels): one contiguous span per thread.

    Each chunk walks time over its span of every [T, M] row; a long contiguous span keeps the
    row accesses streaming (short blocks strided by M cost a cache miss per row and array).
    """
    per = (m + threads - 1) // max(1, threads)
    return max(BLOCK, (per + BLOCK - 1) // BLOCK * BLOCK)


@numba.njit(cache=True, nogil=True)
def delayed_reset_adjoint(du, vp, bt, th, inp, reset, delayed, clears_input, one, zero):  # pragma: no cover
    """Adjoint of u[t] = beta v[t-1] + inp[t] with the delayed reset r = H(v[t-1] - thr) of
    the update rules above, for one neuron: du = dL/du[t], vp = v[t-1], inp = i[t] (read only
    for a zero reset that clears the input, which implies second order).

    Returns (dL/dv[t-1] without the reset signal's surrogate term, dL/dbeta, dL/dinp[t],
    the amount to subtract from dL/dthr, dL/dr).
    """
    if reset != NONE and delayed:
        r = one if vp - th > 0 else zero
        if reset == SUBTRACT:
            return du * bt, du * vp, du, du * r, -du * th
        if clears_input:
            kk = du * (one - r)
            return kk * bt, kk * vp, kk, zero, -du * (bt * vp + inp)
        return du * bt * (one - r), du * (one - r) * vp, du, zero, -du * bt * vp
    return du * bt, du * vp, du, zero, zero


@numba.njit(parallel=True, cache=True, nogil=True)
def lif_forward(
    x, v0, i0, alpha, beta, thr, one, zero, reset, delayed, clears_input, second, record, blk,
    u, s, itr, vtr, v_fin, i_fin,
):  # pragma: no cover - compiled
    """Fill u, s [T, M] (and itr when second, vtr when record and same-step), v_fin, i_fin [M]."""
    T, M = x.shape
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        v = v0[lo:hi].copy()
        cur = i0[lo:hi].copy()
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        alb = alpha[lo:hi]
        keep_v = record and not delayed and reset != NONE
        for t in range(T):
            xt = x[t, lo:hi]
            ut = u[t, lo:hi]
            st = s[t, lo:hi]
            it = itr[t, lo:hi] if second else itr[0, 0:1]
            vt = vtr[t, lo:hi] if keep_v else vtr[0, 0:1]
            for k in range(n):
                th = thb[k]
                if second:
                    cur[k] = alb[k] * cur[k] + xt[k]
                    inp = cur[k]
                    it[k] = inp
                else:
                    inp = xt[k]
                vp = v[k]
                if reset == NONE:
                    uu = btb[k] * vp + inp
                elif delayed:
                    r = one if vp - th > 0 else zero
                    if reset == SUBTRACT:
                        uu = btb[k] * vp + inp - r * th
                    elif clears_input:
                        uu = (btb[k] * vp + inp) * (one - r)
                    else:
                        uu = btb[k] * (one - r) * vp + inp
                else:
                    uu = btb[k] * vp + inp
                ut[k] = uu
                sp = one if uu - th > 0 else zero
                st[k] = sp
                if reset == NONE or delayed:
                    vn = uu
                elif reset == SUBTRACT:
                    vn = uu - sp * th
                else:
                    vn = uu * (one - sp)
                v[k] = vn
                if keep_v:
                    vt[k] = vn
        for k in range(n):
            v_fin[lo + k] = v[k]
            i_fin[lo + k] = cur[k]


@numba.njit(parallel=True, cache=True, nogil=True)
def lif_backward(
    gs, gvtr, gitr, gv_fin, gi_fin, u, sg, sg0, itr, v0, i0, alpha, beta, thr, one, zero,
    reset, delayed, clears_input, second, detach, has_gs, has_vtr, has_itr, has_sg, blk,
    dx, dv0, di0, dalpha, dbeta, dthr,
):  # pragma: no cover - compiled
    """Backward through time of ``lif_forward``; writes dx [T, M] and dv0, di0, dalpha, dbeta, dthr [M].

    Rows are taken as 1-d slices per block (this lets LLVM vectorise the inner loop); arrays
    whose flag is off are [1, 1] placeholders and only their first row is ever sliced.
    """
    T, M = u.shape
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        lam = gv_fin[lo:hi].copy()
        mu = gi_fin[lo:hi].copy()
        da = np.zeros(n, dtype=u.dtype)
        db = np.zeros(n, dtype=u.dtype)
        dth = np.zeros(n, dtype=u.dtype)
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        alb = alpha[lo:hi]
        for t in range(T - 1, -1, -1):
            ut = u[t, lo:hi]
            dxt = dx[t, lo:hi]
            gst = gs[t, lo:hi] if has_gs else gs[0, 0:1]
            gvt = gvtr[t, lo:hi] if has_vtr else gvtr[0, 0:1]
            git = gitr[t, lo:hi] if has_itr else gitr[0, 0:1]
            sgt = sg[t, lo:hi] if has_sg else sg[0, 0:1]
            it = itr[t, lo:hi] if second else itr[0, 0:1]
            if t > 0:
                up = u[t - 1, lo:hi]
                sgp_row = sg[t - 1, lo:hi] if has_sg else sg[0, 0:1]
                ip_row = itr[t - 1, lo:hi] if second else itr[0, 0:1]
            else:
                up = v0[lo:hi]
                sgp_row = sg0[lo:hi]
                ip_row = i0[lo:hi]
            for k in range(n):
                th = thb[k]
                bt = btb[k]
                uu = ut[k]
                sp = one if uu - th > 0 else zero
                gv = lam[k]
                if has_vtr:
                    gv += gvt[k]
                # post-reset v[t] -> u[t] and s[t]
                gsp = zero
                if reset == NONE or delayed:
                    du = gv
                elif reset == SUBTRACT:
                    du = gv
                    dth[k] -= gv * sp
                    if not detach:
                        gsp -= gv * th
                else:
                    du = gv * (one - sp)
                    if not detach:
                        gsp -= gv * uu
                if has_gs:
                    gsp += gst[k]
                if has_sg:
                    g = gsp * sgt[k]
                    du += g
                    dth[k] -= g
                # previous post-reset state and its reset signal
                upk = up[k]
                if t == 0 or reset == NONE or delayed:
                    vp = upk
                else:
                    spp = one if upk - th > 0 else zero
                    vp = upk - spp * th if reset == SUBTRACT else upk * (one - spp)
                dvp, dbk, dinp, dthk, dr = delayed_reset_adjoint(
                    du, vp, bt, th, it[k] if second else zero, reset, delayed, clears_input, one, zero
                )
                db[k] += dbk
                dth[k] -= dthk
                if reset != NONE and delayed and not detach:
                    sgp = sgp_row[k] if (has_sg or t == 0) else zero
                    dvp += dr * sgp
                    dth[k] -= dr * sgp
                lam[k] = dvp
                if second:
                    di = dinp + mu[k]
                    if has_itr:
                        di += git[k]
                    dxt[k] = di
                    da[k] += di * ip_row[k]
                    mu[k] = alb[k] * di
                else:
                    dxt[k] = dinp
        for k in range(n):
            j = lo + k
            dv0[j] = lam[k]
            di0[j] = mu[k]
            dalpha[j] = da[k]
            dbeta[j] = db[k]
            dthr[j] = dth[k]


@numba.njit(cache=True, nogil=True)
def _leaky_row(xt, v, btb, thb, one, zero, reset, delayed, ut, st, n):  # pragma: no cover - compiled
    """One step of the first-order recurrence for a span of n neurons (v updated in place)."""
    for k in range(n):
        th = thb[k]
        vp = v[k]
        if delayed and reset != NONE:
            r = one if vp - th > 0 else zero
            if reset == SUBTRACT:
                uu = btb[k] * vp + xt[k] - r * th
            else:
                uu = btb[k] * (one - r) * vp + xt[k]
        else:
            uu = btb[k] * vp + xt[k]
        ut[k] = uu
        sp = one if uu - th > 0 else zero
        st[k] = sp
        if delayed or reset == NONE:
            v[k] = uu
        elif reset == SUBTRACT:
            v[k] = uu - sp * th
        else:
            v[k] = uu * (one - sp)


@numba.njit(parallel=True, cache=True, nogil=True)
def leaky_forward(x, v0, beta, thr, one, zero, reset, delayed, blk, u, s, v_fin):  # pragma: no cover - compiled
    """``lif_forward`` specialised to first order without traces (Leaky/IF training and inference)."""
    T, M = x.shape
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        v = v0[lo:hi].copy()
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        for t in range(T):
            _leaky_row(x[t, lo:hi], v, btb, thb, one, zero, reset, delayed, u[t, lo:hi], s[t, lo:hi], n)
        for k in range(n):
            v_fin[lo + k] = v[k]


@numba.njit(parallel=True, cache=True, nogil=True)
def leaky_backward(gs, gv_fin, u, sg, v0, beta, thr, one, zero, reset, delayed, blk, dx, dv0, dbeta, dthr):
    # pragma: no cover - compiled
    """``lif_backward`` specialised to first order, detached reset, spike gradient, no traces."""
    T, M = u.shape
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        lam = gv_fin[lo:hi].copy()
        db = np.zeros(n, dtype=u.dtype)
        dth = np.zeros(n, dtype=u.dtype)
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        for t in range(T - 1, -1, -1):
            ut = u[t, lo:hi]
            gst = gs[t, lo:hi]
            sgt = sg[t, lo:hi]
            dxt = dx[t, lo:hi]
            up = u[t - 1, lo:hi] if t > 0 else v0[lo:hi]
            for k in range(n):
                th = thb[k]
                bt = btb[k]
                g = gst[k] * sgt[k]
                gv = lam[k]
                if delayed or reset == NONE:
                    du = gv + g
                    dth[k] -= g
                elif reset == SUBTRACT:
                    du = gv + g
                    sp = one if ut[k] - th > 0 else zero
                    dth[k] -= g + gv * sp
                else:
                    sp = one if ut[k] - th > 0 else zero
                    du = gv * (one - sp) + g
                    dth[k] -= g
                upk = up[k]
                if t == 0 or delayed or reset == NONE:
                    vp = upk
                else:
                    spp = one if upk - th > 0 else zero
                    vp = upk - spp * th if reset == SUBTRACT else upk * (one - spp)
                if delayed and reset == SUBTRACT:
                    r = one if vp - th > 0 else zero
                    lam[k] = du * bt
                    db[k] += du * vp
                    dth[k] -= du * r
                elif delayed and reset == ZERO:
                    r = one if vp - th > 0 else zero
                    lam[k] = du * bt * (one - r)
                    db[k] += du * (one - r) * vp
                else:
                    lam[k] = du * bt
                    db[k] += du * vp
                dxt[k] = du
        for k in range(n):
            j = lo + k
            dv0[j] = lam[k]
            dbeta[j] = db[k]
            dthr[j] = dth[k]


@numba.njit(nogil=True, cache=True)
def _sgf(x, spike, one):  # pragma: no cover - compiled
    """The surrogate ``leaky_backward_dx`` evaluates: 1, for a gs that already holds gs * sg
    (exact: g * 1 == g). ``with_formula`` builds variants where this global is a surrogate's
    ``kernel_formula``."""
    return one


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _back_row(gst, ut, up, lam, btb, thb, one, zero, reset, delayed, dxt, sgc, n):  # pragma: no cover - compiled
    """One step backwards of a detached-reset first-order run for a span of n neurons.

    ut: pre-reset membranes of the step, up: those of the step before (the post-reset v equals
    them under the delayed reset, the only case that reads up); lam: dL/dv after the step on
    entry, before it on exit; dxt receives dL/du. Branch-free inner loop per reset mode.
    """
    if delayed and reset == ZERO:
        for k in range(n):
            sh = ut[k] - thb[k]
            sp = one if sh > 0 else zero
            du = lam[k] + gst[k] * _sgf(sh, sp, *sgc)
            r = one if up[k] - thb[k] > 0 else zero
            lam[k] = du * btb[k] * (one - r)
            dxt[k] = du
    elif reset == ZERO and not delayed:
        for k in range(n):
            sh = ut[k] - thb[k]
            sp = one if sh > 0 else zero
            du = lam[k] * (one - sp) + gst[k] * _sgf(sh, sp, *sgc)
            lam[k] = du * btb[k]
            dxt[k] = du
    else:
        for k in range(n):
            sh = ut[k] - thb[k]
            sp = one if sh > 0 else zero
            du = lam[k] + gst[k] * _sgf(sh, sp, *sgc)
            lam[k] = du * btb[k]
            dxt[k] = du


@numba.njit(parallel=True, cache=True, nogil=True)
def leaky_forward_ckpt(x, v0, beta, thr, one, zero, reset, delayed, blk, steps, s, ckpt, v_fin):
    # pragma: no cover - compiled
    """Forward of a first-order run keeping only the spikes s [T, M] and, every ``steps``
    steps, the membrane entering the chunk (ckpt [C, M]); u lives in one row per span."""
    T, M = x.shape
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        v = v0[lo:hi].copy()
        urow = np.empty(n, dtype=x.dtype)
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        for t in range(T):
            if t % steps == 0:
                ckpt[t // steps, lo:hi] = v
            _leaky_row(x[t, lo:hi], v, btb, thb, one, zero, reset, delayed, urow, s[t, lo:hi], n)
        for k in range(n):
            v_fin[lo + k] = v[k]


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def leaky_backward_ckpt(x, ckpt, gs, gs_shared, lam_io, beta, thr, one, zero, reset, delayed, blk, steps, dx, sgc):
    # pragma: no cover - compiled
    """dx [T, M] and dL/dv0 of a checkpointed first-order run in one call.

    Each span walks the chunks backwards: it recomputes the chunk's u from x and the chunk's
    checkpoint into a span-private scratch (cache-sized), then steps backwards through it.
    gs is [T, M], or [1, M] with gs_shared when the spike gradient is the same at every step.
    lam_io [M]: dL/dv after the run on entry, dL/dv0 on exit.
    """
    T, M = x.shape
    nblocks = (M + blk - 1) // blk
    nchunks = (T + steps - 1) // steps
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        lam = lam_io[lo:hi].copy()
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        ub = np.empty((steps, n), dtype=x.dtype)
        srow = np.empty(n, dtype=x.dtype)
        v = np.empty(n, dtype=x.dtype)
        for c in range(nchunks - 1, -1, -1):
            t0 = c * steps
            t1 = min(t0 + steps, T)
            v[:] = ckpt[c, lo:hi]
            for t in range(t0, t1):
                _leaky_row(x[t, lo:hi], v, btb, thb, one, zero, reset, delayed, ub[t - t0], srow, n)
            for t in range(t1 - 1, t0 - 1, -1):
                up = ub[t - t0 - 1] if t > t0 else ckpt[c, lo:hi]
                g = gs[0, lo:hi] if gs_shared else gs[t, lo:hi]
                _back_row(g, ub[t - t0], up, lam, btb, thb, one, zero, reset, delayed, dx[t, lo:hi], sgc, n)
        for k in range(n):
            lam_io[lo + k] = lam[k]


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def leaky_backward_dx(gs, u, vprev, lam_io, beta, thr, one, zero, reset, delayed, blk, dx, sgc):
    # pragma: no cover - compiled
    """One chunk of steps of ``leaky_backward`` without the beta / threshold gradients.

    gs, u, dx [Tc, M] are the chunk's rows of the spike gradient, the pre-reset membranes and
    the input gradient; vprev [M] is the membrane the chunk started from (u of the step before
    it, or v0); lam_io [M] holds dL/dv after the chunk on entry and dL/dv before it on exit.
    The surrogate derivative is evaluated inline: sg = _sgf(u - thr, H(u - thr), *sgc) (1 here,
    with gs holding gs * sg; a surrogate's ``kernel_formula`` in ``with_formula``). Same
    operations in the same order as ``leaky_backward`` for dx and dv0, one branch-free inner
    loop per reset mode.
    """
    Tc, M = gs.shape
    nblocks = (M + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(lo + blk, M)
        n = hi - lo
        lam = lam_io[lo:hi].copy()
        thb = thr[lo:hi]
        btb = beta[lo:hi]
        for t in range(Tc - 1, -1, -1):
            up = u[t - 1, lo:hi] if t > 0 else vprev[lo:hi]
            _back_row(gs[t, lo:hi], u[t, lo:hi], up, lam, btb, thb, one, zero, reset, delayed, dx[t, lo:hi], sgc, n)
        for k in range(n):
            lam_io[lo + k] = lam[k]


def _twin(kernel: Any, suffix: str, globals_: dict[str, Any]) -> Any:
    """A copy of ``kernel``'s Python function under another name, with its globals updated."""
    py = kernel.py_func
    twin = types.FunctionType(py.__code__, {**py.__globals__, **globals_}, py.__name__ + suffix, py.__defaults__,
                              py.__closure__)
    twin.__qualname__ = py.__qualname__ + suffix
    twin.__doc__ = py.__doc__
    return twin


def _serial(kernel: Any) -> Any:
    """The same kernel compiled without threading (prange runs as range): no parallel launch
    cost, which matters for the many short chunked calls at one thread."""
    options = {"error_model": kernel.targetoptions.get("error_model", "python")}
    return numba.njit(cache=True, nogil=True, **options)(_twin(kernel, "_serial", {}))


@functools.lru_cache(maxsize=None)
def with_formula(name: str, formula: Any, threads: int) -> Any:
    """Backward kernel ``name`` (leaky_backward_dx or leaky_backward_ckpt) evaluating the scalar
    surrogate ``formula`` inline.

    Compiled once per process and formula, not cached on disk: numba's cache could not see a
    change of the formula (it lives in another module) and would return stale code.
    """
    sgf = numba.njit(nogil=True, error_model="numpy")(formula)  # LLVM inlines it
    row = numba.njit(nogil=True, error_model="numpy")(_twin(_back_row, "_formula", {"_sgf": sgf}))
    twin = _twin(_PARALLEL[name], "_formula", {"_back_row": row})
    return numba.njit(parallel=threads > 1, nogil=True, error_model="numpy")(twin)


_PARALLEL = {
    k.py_func.__name__: k
    for k in (
        lif_forward, lif_backward, leaky_forward, leaky_backward, leaky_backward_dx, leaky_forward_ckpt,
        leaky_backward_ckpt,
    )
}
_SERIAL = {name: _serial(k) for name, k in _PARALLEL.items()}


def kernel(name: str, threads: int) -> Any:
    """Kernel ``name`` for ``threads`` numba threads (the serial twin at one thread)."""
    return _SERIAL[name] if threads == 1 else _PARALLEL[name]


def empty(dtype: np.dtype) -> np.ndarray:
    """A placeholder [1, 1] array for arguments a configuration does not use."""
    return np.zeros((1, 1), dtype=dtype)
