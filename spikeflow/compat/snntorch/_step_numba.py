"""One-pass numba kernels for a Leaky step (the compat per-step loop's hot path on CPU).

Same equations, operations and order as ``spikeflow.functional.leaky_step`` (delayed reset,
scalar beta and threshold); the backward is the adjoint written by hand. Used by
``_fused.leaky_step`` when the inputs are contiguous CPU float tensors, beta/threshold/graded
are scalars that need no gradient and the surrogate is ATan or FastSigmoid; otherwise the
torch version in ``_fused`` runs. Tested against the reference step (values and gradients).

    The forward also reports whether every new membrane is finite (a free NaN/inf check).

    R = v_prev > thr;  v = beta v_prev + x - R thr (subtract) | beta (1 - R) v_prev + x (zero)
    | beta v_prev + x (none);  s = v - thr > 0
    backward: d = gv + go g sg(v - thr);  dx = d;  dv_prev = d beta (1 - R if zero)
"""

from __future__ import annotations

import math

import numba
import numpy as np

ATAN, FAST_SIGMOID = 0, 1


@numba.njit(cache=True, nogil=True)
def leaky_forward(x, vp, beta, thr, one, zero, reset, v, s):  # pragma: no cover - compiled
    # one, zero, beta, thr arrive in the data's precision, so float32 stays float32 throughout
    n = x.shape[0]
    finite = True
    for k in range(n):
        if reset == 2:
            u = beta * vp[k] + x[k]
        elif reset == 0:
            r = one if vp[k] > thr else zero
            u = beta * vp[k] + x[k] - r * thr
        else:
            r = one if vp[k] > thr else zero
            u = beta * (one - r) * vp[k] + x[k]
        v[k] = u
        s[k] = one if u - thr > zero else zero
        if not math.isfinite(u):
            finite = False
    return finite


@numba.njit(cache=True, nogil=True)
def leaky_backward(go, gv, v, vp, beta, thr, graded, one, zero, reset, kind, c0, c1, dx, dvp):  # pragma: no cover
    n = go.shape[0]
    for k in range(n):
        z = v[k] - thr
        if kind == 0:  # ATan: (alpha/2) / (1 + (pi/2 alpha z)^2), c0 = alpha/2, c1 = pi/2 alpha
            y = c1 * z
            sg = c0 / (one + y * y)
        else:  # FastSigmoid: 1 / (slope |z| + 1)^2, c0 = slope
            d = c0 * abs(z) + one
            sg = one / (d * d)
        dd = gv[k] + go[k] * graded * sg
        dx[k] = dd
        if reset == 1:
            keep = zero if vp[k] > thr else one
            dvp[k] = dd * (beta * keep)
        else:
            dvp[k] = dd * beta


def surrogate_code(surrogate: object) -> tuple[int, float, float] | None:
    """(kind, c0, c1) for the surrogates with a kernel here; None otherwise."""
    from ... import surrogate as sg

    if type(surrogate) is sg.ATan:
        return ATAN, surrogate.alpha / 2, math.pi / 2 * surrogate.alpha
    if type(surrogate) is sg.FastSigmoid:
        return FAST_SIGMOID, surrogate.slope, 0.0
    return None


RESET_CODE = {"subtract": 0, "zero": 1, "none": 2}
_ = np
