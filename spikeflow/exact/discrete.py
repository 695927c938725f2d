"""Time-discretised EventProp for current-based LIF layers and leaky-integrator readouts.

Spike trains travel between layers as spike-time tensors ``times[B, N, K]`` (ascending per
neuron, ``+inf`` = no spike), so every layer is one ``torch.autograd.Function`` and the
gradient w.r.t. a presynaptic spike time, ``sum_m w_mn (lambda_V - lambda_I)_m``, is exactly
the jump term that EventProp feeds to the presynaptic layer.

Forward on a grid t_n = n dt (exact propagator over each step; an input spike at time t inside
step n enters with the exact sub-step offset s = t_{n+1} - t):

    V <- alpha V + c I + sum_i w_i k_V(s_i),   I <- beta I + sum_i w_i e^{-s_i/tau_syn}
    spike if V >= threshold at t_{n+1}; spike time linearly interpolated inside the step; V <- 0.

Only the input times, the output spike indices and the current at each spike are saved.
Backward: the adjoint (p_V, p_I) = (-tau_mem lambda_V, -tau_syn lambda_I) runs backwards with
the transposed propagator and jumps at stored spikes (Wunderlich & Pehle, Table 2):

    lambda_V^- = lambda_V^+ + [threshold lambda_V^+ + dL/dt_k + sum_m Wrec_mn (lambda_V - lambda_I)_m] / (I - threshold)

with |I - threshold| clamped below by ``params.eps``. The jump is applied at the interpolated spike
time inside its step (propagate back (1 - frac) dt, jump, then frac dt), and an input arriving in
the same step before the spike samples the adjoint at the spike (after the jump in reverse time),
not the step-end one: the input that triggers a spike must get credit for it. Both matter: on a
5-200-3 Yin-Yang net at dt = 0.5 ms the hidden-layer gradient has cosine 0.99 with the exact one
(0.6 without the same-step rule). The error is O(dt) (tests show it). Recurrent spikes reach their
targets at the end of the step in which they are emitted (a delay below dt).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .params import DEFAULT_PARAMS, LIFParams


def _check_times(name: str, times: Tensor) -> None:
    if not isinstance(times, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of spike times, got {type(times).__name__}")
    if times.dim() != 3 or not times.is_floating_point():
        raise ValueError(
            f"{name}: expected float spike times of shape [B, N, K] (+inf = no spike), "
            f"got dtype {times.dtype} and shape {tuple(times.shape)}"
        )


def n_steps_for(t_max: float, dt: float) -> int:
    """Number of grid steps covering [0, t_max]."""
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt: expected a finite positive step, got {dt!r}")
    if not (t_max > 0 and math.isfinite(t_max)):
        raise ValueError(f"t_max: expected a finite positive duration, got {t_max!r}")
    return int(math.ceil(t_max / dt - 1e-9))


class _Arrivals:
    """Input spikes inside the grid: step n, batch b, input i, slot k, arrival weights a = (k_V(s), e^{-s/tau_syn})
    and their time derivatives da/dt, with s = t_{n+1} - t the sub-step offset."""

    def __init__(self, times: Tensor, params: LIFParams, dt: float, n_steps: int) -> None:
        T = n_steps
        valid = torch.isfinite(times) & (times >= 0) & (times < T * dt)
        self.b, self.i, self.k = valid.nonzero(as_tuple=True)
        t = times[self.b, self.i, self.k]
        self.n = torch.clamp((t / dt).floor().long(), 0, T - 1)
        s = (self.n + 1).to(t.dtype) * dt - t
        self.t, self.params = t, params
        self.a, self.da = self._weights(s)  # [M, 2] each
        self.shape = (T, times.shape[0])

    def _weights(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Arrival weights (k_V(s), e^{-s/tau_syn}) and their derivatives w.r.t. the arrival time."""
        p = self.params
        e_s = torch.exp(-s / p.tau_syn)
        return (torch.stack([p.kernel_v(s), e_s], -1),
                torch.stack([-p.kernel_v_ds(s), e_s / p.tau_syn], -1))

    def drive(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        """(X_V, X_I), each [T, B, N_out]: the V and I increments at the end of each step."""
        T, B = self.shape
        n_out = weight.shape[0]
        rows = self.n * B + self.b
        w_sel = weight.T[self.i]  # [M, N_out]
        out = []
        for col in range(2):
            x = weight.new_zeros(T * B, n_out)
            x.index_add_(0, rows, w_sel * self.a[:, col:col + 1])
            out.append(x.view(T, B, n_out))
        return out[0], out[1]

    def grads(self, p_v: Tensor, p_i: Tensor, weight: Tensor, in_shape, need_w: bool, need_t: bool,
              at_spike: tuple[Tensor, Tensor, Tensor] | None = None):
        """(dL/dW, dL/dt_in) from the adjoint p_V, p_I [T, B, N_out] at the step ends.

        ``at_spike = (t_k, p_V, p_I)``, each [T, B, N_out] (t_k = +inf where the neuron does not spike
        in that step): the adjoint just before (in forward time) a spike at t_k inside the step. An input
        that arrives in the same step before t_k samples it (propagated back by t_k - t) instead of the
        step-end adjoint, which lies on the other side of the spike jump: otherwise the input that
        triggers a spike gets no credit for it.
        """
        pv, pi = p_v[self.n, self.b], p_i[self.n, self.b]  # [M, N_out]
        a0, a1 = self.a[:, 0:1], self.a[:, 1:2]
        d0, d1 = self.da[:, 0:1], self.da[:, 1:2]
        if at_spike is not None:
            t_k = at_spike[0][self.n, self.b]  # [M, N_out]
            before = torch.isfinite(t_k) & (self.t[:, None] < t_k)
            if before.any():
                a_k, da_k = self._weights(torch.where(before, t_k - self.t[:, None], torch.zeros_like(t_k)))
                pv = torch.where(before, at_spike[1][self.n, self.b], pv)
                pi = torch.where(before, at_spike[2][self.n, self.b], pi)
                a0, a1 = torch.where(before, a_k[..., 0], a0), torch.where(before, a_k[..., 1], a1)
                d0, d1 = torch.where(before, da_k[..., 0], d0), torch.where(before, da_k[..., 1], d1)
        grad_w = grad_t = None
        if need_w:
            contrib = pv * a0 + pi * a1
            grad_w = weight.new_zeros(weight.shape).index_add_(1, self.i, contrib.T)
        if need_t:
            grad_t = weight.new_zeros(in_shape)
            per = ((pv * d0 + pi * d1) * weight.T[self.i]).sum(1)
            grad_t[self.b, self.i, self.k] = per
        return grad_w, grad_t


def _consts(params: LIFParams, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Elementwise (alpha, beta, c) of the exact propagator over durations s."""
    alpha, beta = torch.exp(-s / params.tau_mem), torch.exp(-s / params.tau_syn)
    if params.equal_taus:
        return alpha, beta, s / params.tau_mem * alpha
    return alpha, beta, params.tau_syn / (params.tau_mem - params.tau_syn) * (alpha - beta)


def _slots(key: Tensor) -> Tensor:
    """Rank of each spike among the spikes of the same neuron (spikes given in time order)."""
    if key.numel() == 0:
        return key.clone()
    order = torch.sort(key, stable=True).indices
    sk = key[order]
    pos = torch.arange(key.numel())
    new = torch.ones_like(sk, dtype=torch.bool)
    new[1:] = sk[1:] != sk[:-1]
    start = torch.cummax(torch.where(new, pos, torch.zeros_like(pos)), 0).values
    rank = torch.empty_like(pos)
    rank[order] = pos - start
    return rank


def _propagate(v: Tensor, cur: Tensor, x_v: Tensor, x_i: Tensor, alpha: float, beta: float,
               c: float) -> tuple[Tensor, Tensor]:
    """One exact step of the current-based membrane: v' = x_v + alpha v + c i,  i' = x_i + beta i."""
    return torch.add(x_v, v, alpha=alpha).add_(cur, alpha=c), torch.add(x_i, cur, alpha=beta)


class DiscreteLIFFunction(torch.autograd.Function):
    """times_out[B, N_out, K] = LIF layer(times_in[B, N_in, K_in]; weight, w_rec) on a dt grid."""

    @staticmethod
    def forward(ctx: Any, in_times: Tensor, weight: Tensor, w_rec: Tensor | None, params: LIFParams,
                dt: float, n_steps: int, max_spikes: int) -> Tensor:  # type: ignore[override]
        thr = params.threshold
        arr = _Arrivals(in_times, params, dt, n_steps)
        x_v, x_i = arr.drive(weight)
        T, B, N = x_v.shape
        alpha, beta, c = params.step_consts(dt)
        v = x_v.new_zeros(B, N)
        cur = x_v.new_zeros(B, N)
        vs, cs = [], []
        w_rec_t = None if w_rec is None else w_rec.T
        for n in range(T):
            v, cur = _propagate(v, cur, x_v[n], x_i[n], alpha, beta, c)
            vs.append(v)
            cs.append(cur)
            spk = v >= thr
            v = v.masked_fill(spk, 0.0)
            if w_rec_t is not None:
                cur = cur + spk.to(x_v.dtype) @ w_rec_t
        v_pre, i_pre = torch.stack(vs), torch.stack(cs)
        spikes = v_pre >= thr
        v_start = torch.cat([v_pre.new_zeros(1, B, N), v_pre[:-1] * (~spikes[:-1])], 0)
        n_i, b_i, j_i = spikes.nonzero(as_tuple=True)
        v0, v1 = v_start[n_i, b_i, j_i], v_pre[n_i, b_i, j_i]
        frac = ((thr - v0) / (v1 - v0).clamp_min(1e-12)).clamp(0.0, 1.0)
        t_k = (n_i.to(x_v.dtype) + frac) * dt
        i_k = i_pre[n_i, b_i, j_i] * torch.exp((1.0 - frac) * dt / params.tau_syn)
        slot = _slots(b_i * N + j_i)
        keep = slot < max_spikes
        out = in_times.new_full((B, N, max_spikes), math.inf)
        out[b_i[keep], j_i[keep], slot[keep]] = t_k[keep]
        idx = torch.stack([n_i, b_i, j_i, slot]).to(torch.int32)
        ctx.save_for_backward(in_times, weight, w_rec, idx, i_k, frac)
        ctx.consts = (params, dt, n_steps, max_spikes)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):  # type: ignore[override]
        in_times, weight, w_rec, idx, i_k, frac = ctx.saved_tensors
        params, dt, T, max_spikes = ctx.consts
        tm, ts, thr = params.tau_mem, params.tau_syn, params.threshold
        B, N = grad_out.shape[0], weight.shape[0]
        n_i, b_i, j_i, slot = idx.long()
        keep = slot < max_spikes
        g = grad_out.new_zeros(T, B, N)
        g[n_i[keep], b_i[keep], j_i[keep]] = grad_out[b_i[keep], j_i[keep], slot[keep]]
        inv_d = grad_out.new_zeros(T, B, N)
        inv_d[n_i, b_i, j_i] = 1.0 / (i_k - thr).clamp_min(params.eps)
        # sub-step position of each spike: the jump is applied at t_k, not at the step end
        s_after = grad_out.new_zeros(T, B, N)
        s_after[n_i, b_i, j_i] = (1.0 - frac) * dt
        is_spk = grad_out.new_zeros(T, B, N, dtype=torch.bool)
        is_spk[n_i, b_i, j_i] = True
        has_spike = torch.zeros(T, dtype=torch.bool)
        has_spike[n_i] = True
        has_spike = has_spike.tolist()
        alpha, beta, c = params.step_consts(dt)
        p_v = grad_out.new_zeros(B, N)
        p_i = grad_out.new_zeros(B, N)
        pvs, pis = [None] * T, [None] * T
        # adjoint just before each spike (forward time), for inputs arriving earlier in the same step
        pv_k = grad_out.new_zeros(T, B, N)
        pi_k = grad_out.new_zeros(T, B, N)
        for n in range(T - 1, -1, -1):
            if has_spike[n]:
                total = g[n]
                if w_rec is not None:
                    total = total + (p_i / ts - p_v / tm) @ w_rec
                # spiking neurons: back to t_k, jump, back to t_n; others: one full step
                s1 = s_after[n]
                a1, b1, c1 = _consts(params, s1)
                pv1, pi1 = a1 * p_v, c1 * p_v + b1 * p_i
                pv1 = pv1 + inv_d[n] * (thr * pv1 - tm * total)
                a2, b2, c2 = _consts(params, dt - s1)
                spk = is_spk[n]
                pv_k[n], pi_k[n] = pv1, pi1
                pvs[n], pis[n] = p_v, p_i
                p_i = torch.where(spk, c2 * pv1 + b2 * pi1, c * p_v + beta * p_i)
                p_v = torch.where(spk, a2 * pv1, alpha * p_v)
                continue
            pvs[n] = p_v
            pis[n] = p_i
            p_i = torch.add(c * p_v, p_i, alpha=beta)
            p_v = alpha * p_v
        pv_all, pi_all = torch.stack(pvs), torch.stack(pis)
        t_k = grad_out.new_full((T, B, N), math.inf)
        t_k[n_i, b_i, j_i] = (n_i.to(frac.dtype) + frac) * dt
        arr = _Arrivals(in_times, params, dt, T)
        grad_w, grad_t = arr.grads(pv_all, pi_all, weight, in_times.shape, ctx.needs_input_grad[1],
                                   ctx.needs_input_grad[0], at_spike=(t_k, pv_k, pi_k))
        grad_rec = None
        if w_rec is not None and ctx.needs_input_grad[2]:
            grad_rec = pi_all[n_i, b_i].T @ torch.nn.functional.one_hot(j_i, N).to(grad_out.dtype)
        return grad_t, grad_w, grad_rec, None, None, None, None


class DiscreteLIFunction(torch.autograd.Function):
    """Non-spiking leaky-integrator readout: V[T, B, N_out] at t_1..t_T from input spike times.

    Backward is the exact transpose of the discrete forward (forcing dL/dV[n] added at t_{n+1}).
    """

    @staticmethod
    def forward(ctx: Any, in_times: Tensor, weight: Tensor, params: LIFParams, dt: float,
                n_steps: int) -> Tensor:  # type: ignore[override]
        arr = _Arrivals(in_times, params, dt, n_steps)
        x_v, x_i = arr.drive(weight)
        T, B, N = x_v.shape
        alpha, beta, c = params.step_consts(dt)
        v = x_v.new_zeros(B, N)
        cur = x_v.new_zeros(B, N)
        out = []
        for n in range(T):
            v, cur = _propagate(v, cur, x_v[n], x_i[n], alpha, beta, c)
            out.append(v)
        ctx.save_for_backward(in_times, weight)
        ctx.consts = (params, dt, n_steps)
        return torch.stack(out)

    @staticmethod
    def backward(ctx: Any, grad_v: Tensor):  # type: ignore[override]
        in_times, weight = ctx.saved_tensors
        params, dt, T = ctx.consts
        B, N = grad_v.shape[1], grad_v.shape[2]
        alpha, beta, c = params.step_consts(dt)
        p_v = grad_v.new_zeros(B, N)
        p_i = grad_v.new_zeros(B, N)
        pvs, pis = [None] * T, [None] * T
        for n in range(T - 1, -1, -1):
            p_v = p_v + grad_v[n]
            pvs[n] = p_v
            pis[n] = p_i
            p_i = torch.add(c * p_v, p_i, alpha=beta)
            p_v = alpha * p_v
        arr = _Arrivals(in_times, params, dt, T)
        grad_w, grad_t = arr.grads(torch.stack(pvs), torch.stack(pis), weight, in_times.shape, ctx.needs_input_grad[1],
                                   ctx.needs_input_grad[0])
        return grad_t, grad_w, None, None, None


def lif_discrete(in_times: Tensor, weight: Tensor, w_rec: Tensor | None = None, *,
                 params: LIFParams = DEFAULT_PARAMS, dt: float = 0.1, t_max: float = 50.0,
                 max_spikes: int = 8) -> Tensor:
    """LIF layer with discretised EventProp gradients: times [B, N_in, K] -> [B, N_out, max_spikes]."""
    _check_times("in_times", in_times)
    if weight.dim() != 2 or weight.shape[1] != in_times.shape[1]:
        raise ValueError(f"weight: expected shape [N_out, {in_times.shape[1]}], got {tuple(weight.shape)}")
    if w_rec is not None and tuple(w_rec.shape) != (weight.shape[0], weight.shape[0]):
        raise ValueError(f"w_rec: expected shape {(weight.shape[0],) * 2}, got {tuple(w_rec.shape)}")
    if not isinstance(max_spikes, int) or max_spikes < 1:
        raise ValueError(f"max_spikes: expected a positive int, got {max_spikes!r}")
    return DiscreteLIFFunction.apply(in_times, weight, w_rec, params, dt, n_steps_for(t_max, dt), max_spikes)


def li_discrete(in_times: Tensor, weight: Tensor, *, params: LIFParams = DEFAULT_PARAMS, dt: float = 0.1,
                t_max: float = 50.0) -> Tensor:
    """Leaky-integrator readout voltages V[T, B, N_out] (T = ceil(t_max/dt)) from spike times."""
    _check_times("in_times", in_times)
    if weight.dim() != 2 or weight.shape[1] != in_times.shape[1]:
        raise ValueError(f"weight: expected shape [N_out, {in_times.shape[1]}], got {tuple(weight.shape)}")
    return DiscreteLIFunction.apply(in_times, weight, params, dt, n_steps_for(t_max, dt))
