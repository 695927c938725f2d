"""Event-based (exact spike time) EventProp for current-based LIF layers: the test oracle.

Forward: the layer jumps from event to event (input spikes, own spikes). Between events V is a
sum of two exponentials, which has at most one stationary point, so the first threshold crossing
is bracketed on a monotone piece and found by bisection to machine precision. Backward: the
adjoint of Wunderlich & Pehle (Table 2) is propagated exactly between events in reverse time:

    lambda_V <- e^{-s/tau_m} lambda_V,
    lambda_I <- e^{-s/tau_s} lambda_I + tau_m/(tau_m - tau_s) (e^{-s/tau_m} - e^{-s/tau_s}) lambda_V
    own spike k of n: lambda_V,n += [thr lambda_V,n + dL/dt_k + sum_m Wrec_mn (lambda_V - lambda_I)_m] / (I_n - thr)
    input spike i:    dL/dW_ji -= tau_s lambda_I,j,   dL/dt_i += sum_j W_ji (lambda_V - lambda_I)_j

Per sample and in float64 numpy: slow, meant for small networks in tests.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .discrete import _check_times
from .params import DEFAULT_PARAMS, LIFParams


def _v_at(p: LIFParams, v0: np.ndarray, i0: np.ndarray, s: np.ndarray) -> np.ndarray:
    tm, ts = p.tau_mem, p.tau_syn
    em = np.exp(-s / tm)
    if p.equal_taus:
        return em * (v0 + s * i0 / tm)
    return em * v0 + ts / (tm - ts) * (em - np.exp(-s / ts)) * i0


def _dv_at(p: LIFParams, v0: np.ndarray, i0: np.ndarray, s: np.ndarray) -> np.ndarray:
    return (-_v_at(p, v0, i0, s) + i0 * np.exp(-s / p.tau_syn)) / p.tau_mem


def _bisect(f, lo: np.ndarray, hi: np.ndarray, rising: bool | np.ndarray, iters: int = 80) -> np.ndarray:
    """Root of f in [lo, hi] where f(lo) and f(hi) have opposite signs (rising: f(lo) < 0)."""
    rising = np.broadcast_to(np.asarray(rising), lo.shape)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        go_right = (fm < 0) == rising
        lo = np.where(go_right, mid, lo)
        hi = np.where(go_right, hi, mid)
    return 0.5 * (lo + hi)


def first_crossing(p: LIFParams, v0: np.ndarray, i0: np.ndarray, horizon: float) -> np.ndarray:
    """Earliest s in (0, horizon] with V(s) = threshold rising, per neuron; +inf if none."""
    thr = p.threshold
    n = v0.shape[0]
    zeros, hs = np.zeros(n), np.full(n, horizon)
    d0, dh = _dv_at(p, v0, i0, zeros), _dv_at(p, v0, i0, hs)
    has_stat = (np.sign(d0) != np.sign(dh)) & (d0 != 0)
    sp = hs.copy()
    if has_stat.any():
        sp[has_stat] = _bisect(lambda s: _dv_at(p, v0[has_stat], i0[has_stat], s), zeros[has_stat],
                               hs[has_stat], d0[has_stat] < 0, iters=50)
    out = np.full(n, math.inf)
    # piece 1: [0, sp] (rising if d0 > 0); piece 2: [sp, horizon] (rising if d at sp..h > 0)
    v_sp = _v_at(p, v0, i0, sp)
    v_h = _v_at(p, v0, i0, hs)
    c1 = (d0 > 0) & (v0 < thr) & (v_sp >= thr)
    c2 = ~c1 & has_stat & (d0 < 0) & (v_sp < thr) & (v_h >= thr)
    f = lambda a, b: (lambda s: _v_at(p, a, b, s) - thr)  # noqa: E731
    for mask, lo, hi in ((c1, zeros, sp), (c2, sp, hs)):
        if mask.any():
            a, b = v0[mask], i0[mask]
            s = _bisect(f(a, b), lo[mask], hi[mask], True, iters=30)
            for _ in range(4):  # Newton polish: quadratic convergence on the rising piece
                s = np.clip(s - (_v_at(p, a, b, s) - thr) / _dv_at(p, a, b, s), lo[mask], hi[mask])
            out[mask] = s
    return out


def simulate_layer(p: LIFParams, in_times: np.ndarray, weight: np.ndarray, w_rec: np.ndarray | None,
                   t_max: float, max_events: int = 10000):
    """One sample: in_times[N_in, K] -> (spike list [(t, neuron, I_at_spike)], input events)."""
    n_out = weight.shape[0]
    ii, kk = np.nonzero(np.isfinite(in_times) & (in_times >= 0) & (in_times < t_max))
    order = np.argsort(in_times[ii, kk], kind="stable")
    inputs = [(float(in_times[i, k]), int(i), int(k)) for i, k in zip(ii[order], kk[order], strict=True)]
    v, cur = np.zeros(n_out), np.zeros(n_out)
    t, spikes, pos = 0.0, [], 0
    while len(spikes) < max_events:
        t_next = inputs[pos][0] if pos < len(inputs) else t_max
        s = first_crossing(p, v, cur, t_next - t) if t_next > t else np.full(n_out, math.inf)
        j = int(np.argmin(s))
        if math.isfinite(s[j]):
            sj = s[j]
            v = _v_at(p, v, cur, np.full(n_out, sj))
            cur = cur * math.exp(-sj / p.tau_syn)
            t = t + sj
            spikes.append((t, j, float(cur[j])))
            v[j] = 0.0
            if w_rec is not None:
                cur = cur + w_rec[:, j]
            continue
        if t_next > t:
            v = _v_at(p, v, cur, np.full(n_out, t_next - t))
            cur = cur * math.exp(-(t_next - t) / p.tau_syn)
            t = t_next
        if pos >= len(inputs):
            break
        cur = cur + weight[:, inputs[pos][1]]
        pos += 1
    else:
        raise RuntimeError(f"simulate_layer: more than {max_events} spikes; lower the weights or t_max")
    return spikes, inputs


def _back_prop(p: LIFParams, lv: np.ndarray, li: np.ndarray, s: float):
    tm, ts = p.tau_mem, p.tau_syn
    em, es = math.exp(-s / tm), math.exp(-s / ts)
    if p.equal_taus:
        li = es * (li + s / ts * lv)
    else:
        li = es * li + tm / (tm - ts) * (em - es) * lv
    return lv * em, li


def backward_layer(p: LIFParams, spikes, inputs, grad_spike: np.ndarray, weight: np.ndarray,
                   w_rec: np.ndarray | None, n_in_shape: tuple[int, int]):
    """Adjoint for one sample. grad_spike[k] = dL/dt of the k-th own spike (time order)."""
    n_out = weight.shape[0]
    thr, ts = p.threshold, p.tau_syn
    events = [(t, 1, idx) for idx, (t, _, _) in enumerate(spikes)]
    events += [(t, 0, idx) for idx, (t, _, _) in enumerate(inputs)]
    events.sort(key=lambda e: (e[0], e[1]))
    lv, li = np.zeros(n_out), np.zeros(n_out)
    gw = np.zeros_like(weight)
    grec = None if w_rec is None else np.zeros_like(w_rec)
    gt = np.zeros(n_in_shape)
    t_cur = events[-1][0] if events else 0.0
    for t, kind, idx in reversed(events):
        lv, li = _back_prop(p, lv, li, t_cur - t)
        t_cur = t
        if kind == 1:
            _, n, i_k = spikes[idx]
            if grec is not None:
                grec[:, n] -= ts * li
                total = grad_spike[idx] + float(w_rec[:, n] @ (lv - li))
            else:
                total = grad_spike[idx]
            denom = max(i_k - thr, p.eps)
            lv[n] = lv[n] + (thr * lv[n] + total) / denom
        else:
            _, i, k = inputs[idx]
            gw[:, i] -= ts * li
            gt[i, k] += float(weight[:, i] @ (lv - li))
    return gw, grec, gt


class EventLIFFunction(torch.autograd.Function):
    """Exact event-based LIF layer: times [B, N_in, K_in] -> [B, N_out, max_spikes] (+inf padded)."""

    @staticmethod
    def forward(ctx: Any, in_times: Tensor, weight: Tensor, w_rec: Tensor | None, params: LIFParams,
                t_max: float, max_spikes: int) -> Tensor:  # type: ignore[override]
        x = in_times.detach().cpu().double().numpy()
        w = weight.detach().cpu().double().numpy()
        wr = None if w_rec is None else w_rec.detach().cpu().double().numpy()
        B, n_out = x.shape[0], w.shape[0]
        out = np.full((B, n_out, max_spikes), math.inf)
        runs = []
        for b in range(B):
            spikes, inputs = simulate_layer(params, x[b], w, wr, t_max)
            counts = np.zeros(n_out, dtype=int)
            slots = []
            for t, n, _ in spikes:
                slots.append(counts[n])
                if counts[n] < max_spikes:
                    out[b, n, counts[n]] = t
                counts[n] += 1
            runs.append((spikes, inputs, slots))
        ctx.runs = runs
        ctx.consts = (params, max_spikes)
        ctx.save_for_backward(in_times, weight, w_rec)
        return torch.as_tensor(out, dtype=in_times.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):  # type: ignore[override]
        in_times, weight, w_rec = ctx.saved_tensors
        params, max_spikes = ctx.consts
        go = grad_out.detach().cpu().double().numpy()
        w = weight.detach().cpu().double().numpy()
        wr = None if w_rec is None else w_rec.detach().cpu().double().numpy()
        gw_total = np.zeros_like(w)
        grec_total = None if wr is None else np.zeros_like(wr)
        gt_total = np.zeros(tuple(in_times.shape))
        for b, (spikes, inputs, slots) in enumerate(ctx.runs):
            g_spk = np.array([go[b, n, sl] if sl < max_spikes else 0.0
                              for (_, n, _), sl in zip(spikes, slots, strict=True)])
            gw, grec, gt = backward_layer(params, spikes, inputs, g_spk, w, wr, tuple(in_times.shape[1:]))
            gw_total += gw
            gt_total[b] = gt
            if grec is not None:
                grec_total += grec
        as_t = lambda a: None if a is None else torch.as_tensor(a, dtype=weight.dtype)  # noqa: E731
        return as_t(gt_total), as_t(gw_total), as_t(grec_total), None, None, None


def lif_event(in_times: Tensor, weight: Tensor, w_rec: Tensor | None = None, *,
              params: LIFParams = DEFAULT_PARAMS, t_max: float = 50.0, max_spikes: int = 8) -> Tensor:
    """Exact (event-based) LIF layer with EventProp gradients; same interface as ``lif_discrete``."""
    _check_times("in_times", in_times)
    if weight.dim() != 2 or weight.shape[1] != in_times.shape[1]:
        raise ValueError(f"weight: expected shape [N_out, {in_times.shape[1]}], got {tuple(weight.shape)}")
    if w_rec is not None and tuple(w_rec.shape) != (weight.shape[0], weight.shape[0]):
        raise ValueError(f"w_rec: expected shape {(weight.shape[0],) * 2}, got {tuple(w_rec.shape)}")
    return EventLIFFunction.apply(in_times, weight, w_rec, params, t_max, max_spikes)
