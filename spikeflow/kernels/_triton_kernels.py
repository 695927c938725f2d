"""Triton kernels: the LIF family (Leaky, IF, Lapicque, Synaptic, LI, CUBA-LI), alpha and adaptive neurons.

Imported only by ``triton_lif`` (lazily): ``triton.jit`` decides at decoration time whether a
kernel is compiled for the GPU or run by the interpreter (``TRITON_INTERPRET=1``, CPU tensors).

Arrays are flattened to [T, M] (M = batch x neurons), parameters expanded to [M]. One program
owns BLOCK neurons and walks time with the state in registers. Per neuron, with
inp[t] = x[t] (first order) or i[t] = alpha i[t-1] + x[t] (second order):

    r[t] = H(v[t-1] - thr)                         (delayed reset only; else 0)
    u[t] = beta v[t-1] + inp[t] - r[t] thr          (subtract)
    u[t] = beta (1 - r[t]) v[t-1] + inp[t]          (zero, keeps the input: Leaky)
    u[t] = (beta v[t-1] + inp[t]) (1 - r[t])        (zero, clears the input: Synaptic, Lapicque)
    s[t] = H(u[t] - thr)
    v[t] = u[t] - s[t] thr  |  u[t] (1 - s[t])  |  u[t]   (same-step reset / delayed or none)

The operations follow ``spikeflow.functional`` in the same order; launched with
``enable_fp_fusion=False`` (no fused multiply-add) the results equal the reference bit for bit.
The backward kernel receives the surrogate derivative sg[t] = surrogate.grad(u[t] - thr, s[t])
computed in torch, so every surrogate works.
"""

from __future__ import annotations

import triton
import triton.language as tl

# reset codes (as spikeflow.kernels._cpu_util.RESET_CODE); kernels may read only constexpr globals
NONE = tl.constexpr(0)
SUBTRACT = tl.constexpr(1)
ZERO = tl.constexpr(2)


@triton.jit(do_not_specialize=["T", "M"])
def lif_forward(
    x_ptr, v0_ptr, i0_ptr, alpha_ptr, beta_ptr, thr_ptr,
    u_ptr, s_ptr, itr_ptr, vtr_ptr, vfin_ptr, ifin_ptr,
    T, M,
    RESET: tl.constexpr, DELAYED: tl.constexpr, CLEARS_INPUT: tl.constexpr, SECOND: tl.constexpr,
    SAVE_S: tl.constexpr, SAVE_U: tl.constexpr, SAVE_I: tl.constexpr, KEEP_V: tl.constexpr, BLOCK: tl.constexpr,
):  # pragma: no cover - compiled or interpreted by triton
    """Fill v_fin, i_fin [M] and, as asked, s, u, itr and the post-reset membranes vtr [T, M]."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    th = tl.load(thr_ptr + offs, mask=mask, other=0.0)
    bt = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    cur = tl.load(i0_ptr + offs, mask=mask, other=0.0)
    al = tl.load(alpha_ptr + offs, mask=mask, other=0.0)
    row = offs.to(tl.int64)
    for _ in range(T):
        xt = tl.load(x_ptr + row, mask=mask, other=0.0)
        if SECOND:
            cur = al * cur + xt
            inp = cur
            if SAVE_I:
                tl.store(itr_ptr + row, cur, mask=mask)
        else:
            inp = xt
        if RESET == NONE or not DELAYED:
            uu = bt * v + inp
        else:
            r = (v - th > 0).to(v.dtype)
            if RESET == SUBTRACT:
                uu = bt * v + inp - r * th
            elif CLEARS_INPUT:
                uu = (bt * v + inp) * (1.0 - r)
            else:
                uu = bt * (1.0 - r) * v + inp
        if SAVE_U:
            tl.store(u_ptr + row, uu, mask=mask)
        sp = (uu - th > 0).to(uu.dtype)
        if SAVE_S:
            tl.store(s_ptr + row, sp, mask=mask)
        if RESET == NONE or DELAYED:
            v = uu
        elif RESET == SUBTRACT:
            v = uu - sp * th
        else:
            v = uu * (1.0 - sp)
        if KEEP_V:
            tl.store(vtr_ptr + row, v, mask=mask)
        row += M
    tl.store(vfin_ptr + offs, v, mask=mask)
    tl.store(ifin_ptr + offs, cur, mask=mask)


@triton.jit(do_not_specialize=["T", "M", "LAST_ROW"])
def lif_backward(
    gs_ptr, gvtr_ptr, gitr_ptr, gvfin_ptr, gifin_ptr, u_ptr, sg_ptr, sg0_ptr, sgc_ptr, itr_ptr,
    v0_ptr, i0_ptr, alpha_ptr, beta_ptr, thr_ptr,
    dx_ptr, dv0_ptr, di0_ptr, dalpha_ptr, dbeta_ptr, dthr_ptr,
    T, M, LAST_ROW,
    RESET: tl.constexpr, DELAYED: tl.constexpr, CLEARS_INPUT: tl.constexpr, SECOND: tl.constexpr,
    DETACH: tl.constexpr, HAS_GS: tl.constexpr, HAS_VTR: tl.constexpr, HAS_ITR: tl.constexpr,
    HAS_SG: tl.constexpr, SG_ATAN: tl.constexpr, BLOCK: tl.constexpr,
):  # pragma: no cover - compiled or interpreted by triton
    """Backward through time of ``lif_forward``: dx [T, M] and per-neuron partials dv0, di0,
    dalpha, dbeta, dthr [M] (reduced to the parameters' shapes by the caller).

    LAST_ROW = (T - 1) M. The step-t quantities of the previous step (u[t-1], sg[t-1], i[t-1]) are loaded once and
    carried to the next (earlier) iteration; at t = 0 they are v0, sg0 and i0. With SG_ATAN the
    surrogate derivative is not read from sg / sg0 but evaluated inline, ATan's
    sg = (1 / (1 + (scale x)^2)) half_alpha with x = u - thr and sgc = [half_alpha, scale].
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    lam = tl.load(gvfin_ptr + offs, mask=mask, other=0.0)
    mu = tl.load(gifin_ptr + offs, mask=mask, other=0.0)
    th = tl.load(thr_ptr + offs, mask=mask, other=0.0)
    bt = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    al = tl.load(alpha_ptr + offs, mask=mask, other=0.0)
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    sg0 = tl.load(sg0_ptr + offs, mask=mask, other=0.0)
    i0 = tl.load(i0_ptr + offs, mask=mask, other=0.0)
    zero = tl.full([BLOCK], 0.0, lam.dtype)  # tl.full: a core builtin (tl.zeros is a jit function)
    da = zero
    db = zero
    dth = zero
    row = offs.to(tl.int64) + LAST_ROW  # (T - 1) M, computed on the host: no int32 overflow
    uu = tl.load(u_ptr + row, mask=mask, other=0.0)
    sgt = zero
    if SG_ATAN:
        half_alpha = tl.load(sgc_ptr)
        scale = tl.load(sgc_ptr + 1)
        y = scale * (uu - th)
        sgt = (1.0 / (1.0 + y * y)) * half_alpha
    elif HAS_SG:
        sgt = tl.load(sg_ptr + row, mask=mask, other=0.0)
    it = zero
    if SECOND:
        it = tl.load(itr_ptr + row, mask=mask, other=0.0)
    for _ in range(T):
        prow = row - M
        later = prow >= 0  # t > 0 (elementwise: the same for every lane)
        has_prev = mask & later
        # step t-1 (v0, sg0, i0 at t = 0)
        up = tl.where(later, tl.load(u_ptr + prow, mask=has_prev, other=0.0), v0)
        sgp = zero
        if SG_ATAN:
            yp = scale * (up - th)
            sgp = (1.0 / (1.0 + yp * yp)) * half_alpha
        elif HAS_SG:
            sgp = tl.where(later, tl.load(sg_ptr + prow, mask=has_prev, other=0.0), sg0)
        ip = zero
        if SECOND:
            ip = tl.where(later, tl.load(itr_ptr + prow, mask=has_prev, other=0.0), i0)
        sp = (uu - th > 0).to(uu.dtype)
        gv = lam
        if HAS_VTR:
            gv = gv + tl.load(gvtr_ptr + row, mask=mask, other=0.0)
        # post-reset v[t] -> u[t] and s[t]
        gsp = zero
        if RESET == NONE or DELAYED:
            du = gv
        elif RESET == SUBTRACT:
            du = gv
            dth = dth - gv * sp
            if not DETACH:
                gsp = gsp - gv * th
        else:
            du = gv * (1.0 - sp)
            if not DETACH:
                gsp = gsp - gv * uu
        if HAS_GS:
            gsp = gsp + tl.load(gs_ptr + row, mask=mask, other=0.0)
        if HAS_SG:
            g = gsp * sgt
            du = du + g
            dth = dth - g
        # previous post-reset state and its reset signal
        if RESET == NONE or DELAYED:
            vp = up
        else:
            spp = (up - th > 0).to(up.dtype)
            if RESET == SUBTRACT:
                vr = up - spp * th
            else:
                vr = up * (1.0 - spp)
            vp = tl.where(later, vr, up)
        if RESET != NONE and DELAYED:
            r = (vp - th > 0).to(vp.dtype)
            if RESET == SUBTRACT:
                dvp = du * bt
                db = db + du * vp
                dinp = du
                dth = dth - du * r
                dr = -du * th
            elif CLEARS_INPUT:
                kk = du * (1.0 - r)
                dvp = kk * bt
                db = db + kk * vp
                dinp = kk
                dr = -du * (bt * vp + it)  # clears_input implies second order
            else:
                dvp = du * bt * (1.0 - r)
                db = db + du * (1.0 - r) * vp
                dinp = du
                dr = -du * bt * vp
            if not DETACH:
                dvp = dvp + dr * sgp
                dth = dth - dr * sgp
        else:
            dvp = du * bt
            db = db + du * vp
            dinp = du
        lam = dvp
        if SECOND:
            di = dinp + mu
            if HAS_ITR:
                di = di + tl.load(gitr_ptr + row, mask=mask, other=0.0)
            tl.store(dx_ptr + row, di, mask=mask)
            da = da + di * ip
            mu = al * di
        else:
            tl.store(dx_ptr + row, dinp, mask=mask)
        uu = up
        sgt = sgp
        it = ip
        row = prow
    tl.store(dv0_ptr + offs, lam, mask=mask)
    tl.store(di0_ptr + offs, mu, mask=mask)
    tl.store(dalpha_ptr + offs, da, mask=mask)
    tl.store(dbeta_ptr + offs, db, mask=mask)
    tl.store(dthr_ptr + offs, dth, mask=mask)


@triton.jit(do_not_specialize=["T", "M"])
def alpha_forward(
    x_ptr, e0_ptr, h0_ptr, w0_ptr, alpha_ptr, beta_ptr, tau_ptr, thr_ptr,
    s_ptr, etr_ptr, htr_ptr, vtr_ptr, efin_ptr, hfin_ptr, vfin_ptr,
    T, M,
    RESET: tl.constexpr, SAVE_S: tl.constexpr, SAVE_TR: tl.constexpr, BLOCK: tl.constexpr,
):  # pragma: no cover - compiled or interpreted by triton
    """The alpha neuron (``functional.alpha_step``), delayed reset R[t] = H(v[t-1] - thr):

        e[t] = alpha e[t-1] + x[t];  h[t] = beta h[t-1] - x[t];  v[t] = tau (e[t] + h[t])
        subtract: e[t] -= R thr;  h[t] *= 1 - R;  v[t] += R h[t-1]     zero: e, h, v *= 1 - R
        s[t] = H(v[t] - thr)

    RESET is NONE when no reset applies (reset "none" or reset_delay False). Fills s and, with
    SAVE_TR, the post-reset traces e, h, v [T, M]; always the final state [M].
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    e = tl.load(e0_ptr + offs, mask=mask, other=0.0)
    h = tl.load(h0_ptr + offs, mask=mask, other=0.0)
    v = tl.load(w0_ptr + offs, mask=mask, other=0.0)
    al = tl.load(alpha_ptr + offs, mask=mask, other=0.0)
    bt = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    ta = tl.load(tau_ptr + offs, mask=mask, other=0.0)
    th = tl.load(thr_ptr + offs, mask=mask, other=0.0)
    row = offs.to(tl.int64)
    for _ in range(T):
        xt = tl.load(x_ptr + row, mask=mask, other=0.0)
        h_prev = h
        r = (v - th > 0).to(v.dtype)
        e = al * e + xt
        h = bt * h - xt
        v = ta * (e + h)
        if RESET == SUBTRACT:
            keep = 1.0 - r
            e = e - r * th
            h = h * keep
            v = v + r * h_prev
        elif RESET == ZERO:
            keep = 1.0 - r
            e = e * keep
            h = h * keep
            v = v * keep
        if SAVE_S:
            tl.store(s_ptr + row, (v - th > 0).to(v.dtype), mask=mask)
        if SAVE_TR:
            tl.store(etr_ptr + row, e, mask=mask)
            tl.store(htr_ptr + row, h, mask=mask)
            tl.store(vtr_ptr + row, v, mask=mask)
        row += M
    tl.store(efin_ptr + offs, e, mask=mask)
    tl.store(hfin_ptr + offs, h, mask=mask)
    tl.store(vfin_ptr + offs, v, mask=mask)


@triton.jit(do_not_specialize=["T", "M", "LAST_ROW"])
def alpha_backward(
    x_ptr, etr_ptr, htr_ptr, vtr_ptr, e0_ptr, h0_ptr, w0_ptr, alpha_ptr, beta_ptr, tau_ptr, thr_ptr,
    gs_ptr, getr_ptr, ghtr_ptr, gvtr_ptr, gefin_ptr, ghfin_ptr, gvfin_ptr, sg_ptr, sg0_ptr, sgc_ptr,
    dx_ptr, de0_ptr, dh0_ptr, dw0_ptr, dalpha_ptr, dbeta_ptr, dtau_ptr, dthr_ptr,
    T, M, LAST_ROW,
    RESET: tl.constexpr, DETACH: tl.constexpr, HAS_GS: tl.constexpr, HAS_TR: tl.constexpr,
    HAS_SG: tl.constexpr, SG_ATAN: tl.constexpr, BLOCK: tl.constexpr,
):  # pragma: no cover - compiled or interpreted by triton
    """Backward through time of ``alpha_forward``; the pre-reset currents are rebuilt from the
    previous post-reset state and x[t] (bit for bit). Writes dx [T, M] and per-neuron partials
    de0, dh0, dw0, dalpha, dbeta, dtau, dthr [M]. Surrogate as in ``lif_backward``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    lam_e = tl.load(gefin_ptr + offs, mask=mask, other=0.0)
    lam_h = tl.load(ghfin_ptr + offs, mask=mask, other=0.0)
    lam_v = tl.load(gvfin_ptr + offs, mask=mask, other=0.0)
    al = tl.load(alpha_ptr + offs, mask=mask, other=0.0)
    bt = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    ta = tl.load(tau_ptr + offs, mask=mask, other=0.0)
    th = tl.load(thr_ptr + offs, mask=mask, other=0.0)
    e0 = tl.load(e0_ptr + offs, mask=mask, other=0.0)
    h0 = tl.load(h0_ptr + offs, mask=mask, other=0.0)
    w0 = tl.load(w0_ptr + offs, mask=mask, other=0.0)
    sg0 = tl.load(sg0_ptr + offs, mask=mask, other=0.0)
    zero = tl.full([BLOCK], 0.0, lam_e.dtype)
    da = zero
    db = zero
    dta = zero
    dth = zero
    row = offs.to(tl.int64) + LAST_ROW
    vt = tl.load(vtr_ptr + row, mask=mask, other=0.0)
    sgt = zero
    if SG_ATAN:
        half_alpha = tl.load(sgc_ptr)
        scale = tl.load(sgc_ptr + 1)
        y = scale * (vt - th)
        sgt = (1.0 / (1.0 + y * y)) * half_alpha
    elif HAS_SG:
        sgt = tl.load(sg_ptr + row, mask=mask, other=0.0)
    for _ in range(T):
        prow = row - M
        later = prow >= 0
        has_prev = mask & later
        ep = tl.where(later, tl.load(etr_ptr + prow, mask=has_prev, other=0.0), e0)
        hp = tl.where(later, tl.load(htr_ptr + prow, mask=has_prev, other=0.0), h0)
        vp = tl.where(later, tl.load(vtr_ptr + prow, mask=has_prev, other=0.0), w0)
        sgp = zero
        if SG_ATAN:
            yp = scale * (vp - th)
            sgp = (1.0 / (1.0 + yp * yp)) * half_alpha
        elif HAS_SG:
            sgp = tl.where(later, tl.load(sg_ptr + prow, mask=has_prev, other=0.0), sg0)
        xt = tl.load(x_ptr + row, mask=mask, other=0.0)
        e_pre = al * ep + xt
        h_pre = bt * hp - xt
        total = e_pre + h_pre
        ge = lam_e
        gh = lam_h
        gv = lam_v
        if HAS_TR:
            ge = ge + tl.load(getr_ptr + row, mask=mask, other=0.0)
            gh = gh + tl.load(ghtr_ptr + row, mask=mask, other=0.0)
            gv = gv + tl.load(gvtr_ptr + row, mask=mask, other=0.0)
        if HAS_GS:
            g = tl.load(gs_ptr + row, mask=mask, other=0.0) * sgt
            gv = gv + g
            dth = dth - g
        r = (vp - th > 0).to(vp.dtype)
        dhp = zero
        dr = zero
        if RESET == SUBTRACT:
            d_e = ge
            dth = dth - ge * r
            d_h = gh * (1.0 - r)
            d_v = gv
            dr = -ge * th - gh * h_pre + gv * hp
            dhp = gv * r
        elif RESET == ZERO:
            keep = 1.0 - r
            d_e = ge * keep
            d_h = gh * keep
            d_v = gv * keep
            dr = -(ge * e_pre + gh * h_pre + gv * (ta * total))
        else:
            d_e = ge
            d_h = gh
            d_v = gv
        dta = dta + d_v * total
        d_e = d_e + d_v * ta
        d_h = d_h + d_v * ta
        da = da + d_e * ep
        db = db + d_h * hp
        lam_e = d_e * al
        lam_h = d_h * bt + dhp
        tl.store(dx_ptr + row, d_e - d_h, mask=mask)
        lam_v = zero
        if RESET != NONE and not DETACH:
            lam_v = dr * sgp
            dth = dth - dr * sgp
        sgt = sgp
        row = prow
    tl.store(de0_ptr + offs, lam_e, mask=mask)
    tl.store(dh0_ptr + offs, lam_h, mask=mask)
    tl.store(dw0_ptr + offs, lam_v, mask=mask)
    tl.store(dalpha_ptr + offs, da, mask=mask)
    tl.store(dbeta_ptr + offs, db, mask=mask)
    tl.store(dtau_ptr + offs, dta, mask=mask)
    tl.store(dthr_ptr + offs, dth, mask=mask)


@triton.jit(do_not_specialize=["T", "M"])
def adaptive_forward(
    x_ptr, v0_ptr, a0_ptr, z0_ptr, beta_ptr, rho_ptr, adapt_ptr, thr_ptr,
    s_ptr, u_ptr, atr_ptr, vtr_ptr, vfin_ptr, afin_ptr,
    T, M,
    RESET: tl.constexpr, DELAYED: tl.constexpr, SAVE_S: tl.constexpr, SAVE_UA: tl.constexpr,
    KEEP_V: tl.constexpr, BLOCK: tl.constexpr,
):  # pragma: no cover - compiled or interpreted by triton
    """The adaptive-threshold LIF (``functional.adaptive_step``):

        a[t] = rho a[t-1] + adaptation z[t-1];  b[t] = thr + a[t]
        u[t] = beta v[t-1] + x[t] (- z[t-1] b[t-1]  |  - beta z[t-1] v[t-1], delayed subtract | zero)
        z[t] = H(u[t] - b[t]);  v[t] = u[t] - z[t] b[t] | u[t] (1 - z[t]) | u[t]  (same-step reset)

    Fills s = z [T, M], with SAVE_UA u and a [T, M], with KEEP_V the post-reset v [T, M], and
    the final v, a [M] (the final z is s[T - 1]).
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    a = tl.load(a0_ptr + offs, mask=mask, other=0.0)
    z = tl.load(z0_ptr + offs, mask=mask, other=0.0)
    bt = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    rh = tl.load(rho_ptr + offs, mask=mask, other=0.0)
    ad = tl.load(adapt_ptr + offs, mask=mask, other=0.0)
    th = tl.load(thr_ptr + offs, mask=mask, other=0.0)
    row = offs.to(tl.int64)
    for _ in range(T):
        xt = tl.load(x_ptr + row, mask=mask, other=0.0)
        b_prev = th + a
        a = rh * a + ad * z
        b = th + a
        uu = bt * v + xt
        if DELAYED and RESET == SUBTRACT:
            uu = uu - z * b_prev
        elif DELAYED and RESET == ZERO:
            uu = uu - bt * z * v
        z = (uu - b > 0).to(uu.dtype)
        if RESET == NONE or DELAYED:
            v = uu
        elif RESET == SUBTRACT:
            v = uu - z * b
        else:
            v = uu * (1.0 - z)
        if SAVE_S:
            tl.store(s_ptr + row, z, mask=mask)
        if SAVE_UA:
            tl.store(u_ptr + row, uu, mask=mask)
            tl.store(atr_ptr + row, a, mask=mask)
        if KEEP_V:
            tl.store(vtr_ptr + row, v, mask=mask)
        row += M
    tl.store(vfin_ptr + offs, v, mask=mask)
    tl.store(afin_ptr + offs, a, mask=mask)


@triton.jit(do_not_specialize=["T", "M", "LAST_ROW"])
def adaptive_backward(
    u_ptr, atr_ptr, v0_ptr, a0_ptr, z0_ptr, beta_ptr, rho_ptr, adapt_ptr, thr_ptr,
    gs_ptr, gvtr_ptr, gatr_ptr, gvfin_ptr, gafin_ptr, sg_ptr, sgc_ptr,
    dx_ptr, dv0_ptr, da0_ptr, dz0_ptr, dbeta_ptr, drho_ptr, dadapt_ptr, dthr_ptr,
    T, M, LAST_ROW,
    RESET: tl.constexpr, DELAYED: tl.constexpr, DETACH: tl.constexpr, HAS_GS: tl.constexpr,
    HAS_VTR: tl.constexpr, HAS_ATR: tl.constexpr, SG_ATAN: tl.constexpr, BLOCK: tl.constexpr,
):  # pragma: no cover - compiled or interpreted by triton
    """Backward through time of ``adaptive_forward`` from u and a [T, M]: dx [T, M] and per-neuron
    partials dv0, da0, dz0, dbeta, drho, dadaptation, dthr [M]. The spike z feeds the adaptation
    (and, with detach_reset False, the reset), so its surrogate derivative is always used:
    sg[t] from sg_ptr, or ATan inline (SG_ATAN, sgc = [half_alpha, scale])."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    lam_v = tl.load(gvfin_ptr + offs, mask=mask, other=0.0)
    lam_a = tl.load(gafin_ptr + offs, mask=mask, other=0.0)
    bt = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    rh = tl.load(rho_ptr + offs, mask=mask, other=0.0)
    ad = tl.load(adapt_ptr + offs, mask=mask, other=0.0)
    th = tl.load(thr_ptr + offs, mask=mask, other=0.0)
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    a0 = tl.load(a0_ptr + offs, mask=mask, other=0.0)
    z0 = tl.load(z0_ptr + offs, mask=mask, other=0.0)
    zero = tl.full([BLOCK], 0.0, lam_v.dtype)
    lam_z = zero
    dbt = zero
    drh = zero
    dad = zero
    dth = zero
    if SG_ATAN:
        half_alpha = tl.load(sgc_ptr)
        scale = tl.load(sgc_ptr + 1)
    row = offs.to(tl.int64) + LAST_ROW
    uu = tl.load(u_ptr + row, mask=mask, other=0.0)
    at = tl.load(atr_ptr + row, mask=mask, other=0.0)
    for _ in range(T):
        prow = row - M
        later = prow >= 0
        has_prev = mask & later
        up = tl.load(u_ptr + prow, mask=has_prev, other=0.0)
        ap = tl.where(later, tl.load(atr_ptr + prow, mask=has_prev, other=0.0), a0)
        b = th + at
        sh = uu - b
        sp = (sh > 0).to(uu.dtype)
        if SG_ATAN:
            y = scale * sh
            sgt = (1.0 / (1.0 + y * y)) * half_alpha
        else:
            sgt = tl.load(sg_ptr + row, mask=mask, other=0.0)
        gz = lam_z
        if HAS_GS:
            gz = gz + tl.load(gs_ptr + row, mask=mask, other=0.0)
        ga = lam_a
        if HAS_ATR:
            ga = ga + tl.load(gatr_ptr + row, mask=mask, other=0.0)
        gv = lam_v
        if HAS_VTR:
            gv = gv + tl.load(gvtr_ptr + row, mask=mask, other=0.0)
        # same-step reset v[t] = reset(u[t], z[t], b[t])
        db = zero
        if RESET == NONE or DELAYED:
            du = gv
        elif RESET == SUBTRACT:
            du = gv
            db = -gv * sp
            if not DETACH:
                gz = gz - gv * b
        else:
            du = gv * (1.0 - sp)
            if not DETACH:
                gz = gz - gv * uu
        # z[t] = H(u[t] - b[t])
        g = gz * sgt
        du = du + g
        db = db - g
        dth = dth + db
        da = ga + db
        # previous state: post-reset v, spike z, threshold b (the initial state at t = 0)
        bp = th + ap
        spp = (up - bp > 0).to(up.dtype)
        zp = tl.where(later, spp, z0)
        if RESET == NONE or DELAYED:
            vr = up
        elif RESET == SUBTRACT:
            vr = up - spp * bp
        else:
            vr = up * (1.0 - spp)
        vp = tl.where(later, vr, v0)
        # u[t] = beta v[t-1] + x[t] - delayed reset;  a[t] = rho a[t-1] + adaptation z[t-1]
        dvp = du * bt
        dbt = dbt + du * vp
        dap = da * rh
        dzp = da * ad
        drh = drh + da * ap
        dad = dad + da * zp
        if DELAYED and RESET == SUBTRACT:
            dth = dth - du * zp
            dap = dap - du * zp
            if not DETACH:
                dzp = dzp - du * bp
        elif DELAYED and RESET == ZERO:
            dvp = dvp - du * bt * zp
            dbt = dbt - du * zp * vp
            if not DETACH:
                dzp = dzp - du * bt * vp
        tl.store(dx_ptr + row, du, mask=mask)
        lam_v = dvp
        lam_a = dap
        lam_z = dzp
        uu = up
        at = ap
        row = prow
    tl.store(dv0_ptr + offs, lam_v, mask=mask)
    tl.store(da0_ptr + offs, lam_a, mask=mask)
    tl.store(dz0_ptr + offs, lam_z, mask=mask)
    tl.store(dbeta_ptr + offs, dbt, mask=mask)
    tl.store(drho_ptr + offs, drh, mask=mask)
    tl.store(dadapt_ptr + offs, dad, mask=mask)
    tl.store(dthr_ptr + offs, dth, mask=mask)
