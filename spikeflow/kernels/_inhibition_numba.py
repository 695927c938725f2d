"""Compiled (numba) LIF recurrences with winner-take-all inhibition, and their backward.

The dynamics are those of the LIF family (``spikeflow.dynamics.lif``) (first order: Leaky; second order with a current:
Synaptic, and Lapicque as alpha = 0 with the input already scaled by its gain), except that
at each step only the winner of each sample, w[t] = argmax_k (u[t, k] - thr[k]) over all
of the sample's features (first index on ties, as ``torch.argmax``), may spike:

    s[t, k] = H(u[t, k] - thr[k]) if k == w[t] else 0

The same-step reset uses that masked spike; the delayed reset sees every crossing,
r[t] = H(v[t-1] - thr). In the backward, d s / d u = sg * [k == w[t]].

Arrays are flattened to [T, M] with M = B x F (F features per sample, contiguous). The winner
couples a sample's features within a step, so the kernels are parallel over samples.
Each kernel exists parallel and as a serial twin (``kernel(name, threads)``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from ._cpu_util import _serial

NONE, SUBTRACT, ZERO = 0, 1, 2  # as call.RESET_CODE


@numba.njit(cache=True, nogil=True)
def delayed_reset_adjoint(du, vp, bt, th, inp, reset, delayed, clears_input, one, zero):  # pragma: no cover
    """Adjoint of u[t] = beta v[t-1] + inp[t] with the delayed reset r = H(v[t-1] - thr), for one
    neuron: returns (dL/dv[t-1] without the reset signal's surrogate term, dL/dbeta, dL/dinp[t],
    the amount to subtract from dL/dthr, dL/dr)."""
    if reset != NONE and delayed:
        r = one if vp - th > 0 else zero
        if reset == SUBTRACT:
            return du * bt, du * vp, du, du * r, -du * th
        if clears_input:
            kk = du * (one - r)
            return kk * bt, kk * vp, kk, zero, -du * (bt * vp + inp)
        return du * bt * (one - r), du * (one - r) * vp, du, zero, -du * bt * vp
    return du * bt, du * vp, du, zero, zero

__all__ = ["wta_forward", "wta_backward", "wta_backward_dx", "kernel", "placeholder"]


@numba.njit(parallel=True, cache=True, nogil=True)
def wta_forward(
    x, v0, i0, alpha, beta, thr, one, zero, reset, delayed, clears_input, second, keep_v, nfeat,
    u, s, itr, vtr, win, v_fin, i_fin,
):  # pragma: no cover - compiled
    """Fill u, s [T, M], win [T, B] (int32), itr [T, M] when ``second``, the post-reset
    membrane vtr [T, M] when ``keep_v``, and v_fin, i_fin [M]. Unused arrays are [1, 1]."""
    T, M = x.shape
    nb = M // nfeat
    for b in prange(nb):
        lo = b * nfeat
        v = v0[lo : lo + nfeat].copy()
        cur = i0[lo : lo + nfeat].copy()
        for t in range(T):
            best = zero
            wi = 0
            for k in range(nfeat):
                j = lo + k
                th = thr[j]
                if second:
                    cur[k] = alpha[j] * cur[k] + x[t, j]
                    inp = cur[k]
                    itr[t, j] = inp
                else:
                    inp = x[t, j]
                vp = v[k]
                bt = beta[j]
                if reset == NONE or not delayed:
                    uu = bt * vp + inp
                else:
                    r = one if vp - th > 0 else zero
                    if reset == SUBTRACT:
                        uu = bt * vp + inp - r * th
                    elif clears_input:
                        uu = (bt * vp + inp) * (one - r)
                    else:
                        uu = bt * (one - r) * vp + inp
                u[t, j] = uu
                s[t, j] = zero
                v[k] = uu
                sh = uu - th
                if k == 0 or sh > best:
                    best = sh
                    wi = k
            win[t, b] = wi
            j = lo + wi
            sp = one if best > 0 else zero
            s[t, j] = sp
            if reset != NONE and not delayed:
                v[wi] = u[t, j] - sp * thr[j] if reset == SUBTRACT else u[t, j] * (one - sp)
            if keep_v:
                for k in range(nfeat):
                    vtr[t, lo + k] = v[k]
        for k in range(nfeat):
            v_fin[lo + k] = v[k]
            i_fin[lo + k] = cur[k]


@numba.njit(parallel=True, cache=True, nogil=True)
def wta_backward(
    gs, gvtr, gitr, gv_fin, gi_fin, u, sg, sg0, itr, win, v0, i0, alpha, beta, thr, one, zero,
    reset, delayed, clears_input, second, detach, has_gs, has_vtr, has_itr, has_sg, nfeat,
    dx, dv0, di0, dalpha, dbeta, dthr,
):  # pragma: no cover - compiled
    """Backward through time of ``wta_forward``: dx [T, M]; dv0, di0, dalpha, dbeta, dthr [M].

    sg [T, M] is the (unmasked) surrogate derivative at u - thr and sg0 [M] at v0 - thr; the
    spike path is masked by the winner here, the delayed reset's path is not.
    """
    T, M = u.shape
    nb = M // nfeat
    for b in prange(nb):
        lo = b * nfeat
        lam = gv_fin[lo : lo + nfeat].copy()
        mu = gi_fin[lo : lo + nfeat].copy()
        for t in range(T - 1, -1, -1):
            w = win[t, b]
            wp = win[t - 1, b] if t > 0 else -1
            for k in range(nfeat):
                j = lo + k
                th = thr[j]
                bt = beta[j]
                uu = u[t, j]
                sp = one if (k == w and uu - th > 0) else zero
                gv = lam[k]
                if has_vtr:
                    gv += gvtr[t, j]
                # post-reset v[t] -> u[t] and the masked spike s[t]
                gsp = zero
                if reset == NONE or delayed:
                    du = gv
                elif reset == SUBTRACT:
                    du = gv
                    dthr[j] -= gv * sp
                    if not detach:
                        gsp -= gv * th
                else:
                    du = gv * (one - sp)
                    if not detach:
                        gsp -= gv * uu
                if has_gs:
                    gsp += gs[t, j]
                if has_sg and k == w:
                    g = gsp * sg[t, j]
                    du += g
                    dthr[j] -= g
                # the previous post-reset membrane and the delayed reset it triggers
                upk = u[t - 1, j] if t > 0 else v0[j]
                if t == 0 or reset == NONE or delayed:
                    vp = upk
                else:
                    spp = one if (k == wp and upk - th > 0) else zero
                    vp = upk - spp * th if reset == SUBTRACT else upk * (one - spp)
                dvp, dbk, dinp, dthk, dr = delayed_reset_adjoint(
                    du, vp, bt, th, itr[t, j] if second else zero, reset, delayed, clears_input, one, zero
                )
                dbeta[j] += dbk
                dthr[j] -= dthk
                if reset != NONE and delayed and not detach:
                    sgp = sg[t - 1, j] if t > 0 else sg0[j]
                    dvp += dr * sgp
                    dthr[j] -= dr * sgp
                lam[k] = dvp
                if second:
                    di = dinp + mu[k]
                    if has_itr:
                        di += gitr[t, j]
                    dx[t, j] = di
                    dalpha[j] += di * (itr[t - 1, j] if t > 0 else i0[j])
                    mu[k] = alpha[j] * di
                else:
                    dx[t, j] = dinp
        for k in range(nfeat):
            dv0[lo + k] = lam[k]
            di0[lo + k] = mu[k]


@numba.njit(parallel=True, cache=True, nogil=True)
def wta_backward_dx(g_win, win, u, v0, alpha, beta, thr, one, zero, reset, delayed, clears_input, nfeat, lam, mu, dx):
    # pragma: no cover - compiled
    """``wta_backward`` for the common training case: delayed (or no) reset, detached, no
    trace and no parameter gradients. Only the winner of each step receives the spike
    gradient, so it arrives as g_win [T, B] = gs * sg at the winners, and the inner loop
    over features is branch-free. lam, mu [M] hold dL/dv, dL/di after the run on entry and
    dL/dv0, dL/di0 on exit; dx [T, M] is written. First order: alpha = 0 keeps mu at 0.
    """
    T, M = u.shape
    nb = M // nfeat
    on = one if (reset != NONE and delayed) else zero
    zk = zero if (reset == SUBTRACT or clears_input) else on  # zero reset keeping the input
    zc = on if (reset != SUBTRACT and clears_input) else zero  # zero reset clearing the input
    for b in prange(nb):
        lo = b * nfeat
        hi = lo + nfeat
        lm = lam[lo:hi].copy()
        mv = mu[lo:hi].copy()
        al = alpha[lo:hi]
        bt = beta[lo:hi]
        thb = thr[lo:hi]
        for t in range(T - 1, -1, -1):
            lm[win[t, b]] += g_win[t, b]
            up = u[t - 1, lo:hi] if t > 0 else v0[lo:hi]
            dxt = dx[t, lo:hi]
            for k in range(nfeat):
                r = on if up[k] - thb[k] > 0 else zero
                kk = lm[k] * (one - r * zc)
                lm[k] = kk * bt[k] * (one - r * zk)
                di = kk + mv[k]
                dxt[k] = di
                mv[k] = al[k] * di
        lam[lo:hi] = lm
        mu[lo:hi] = mv


_PARALLEL = {"wta_forward": wta_forward, "wta_backward": wta_backward, "wta_backward_dx": wta_backward_dx}
_SERIAL = {name: _serial(k) for name, k in _PARALLEL.items()}


def kernel(name: str, threads: int) -> Any:
    """Kernel ``name`` for ``threads`` numba threads (the serial twin at one thread)."""
    return _SERIAL[name] if threads == 1 else _PARALLEL[name]


def placeholder(dtype: Any) -> np.ndarray:
    """A [1, 1] array for arguments a configuration does not use."""
    return np.zeros((1, 1), dtype=dtype)
