"""Fused CPU kernels for RLeaky and RSynaptic (models "rleaky", "rsynaptic").

One-to-one feedback (v_scale * s) is elementwise: forward and backward each run as one
compiled pass over time. All-to-all feedback (W s + b): each step's product is torch's
``F.linear`` (as in the reference, so results are equal bit for bit), between compiled
elementwise steps; the backward walks time backwards the same way with
dL/ds[t-1] = dL/drec[t] W, and forms dW = sum_t dL/drec[t]^T s[t-1] at the end, visiting
only the inputs that spiked (dL/drec[t] is dL/dx[t]). No per-step autograd graph is built.

Saved for backward: the membrane after the delayed reset u [T, B, ...] (spikes, outputs and
post-reset membranes are recomputed from it bit for bit) and O(B x N) tensors; only where
needed also the current trace i of RSynaptic (alpha learnt, or an attached delayed zero reset)
and p = beta v + x + rec of RLeaky (attached delayed zero reset).
Winner-take-all inhibition and parameters of another dtype or device go to ``reference``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..functional.options import SpikeOptions
from ..functional.states import RLeakyState, RSynapticState
from ._cpu_util import (
    KERNEL_LOCK,
    RESET_CODE,
    big_buffer,
    flat,
    heaviside,
    kernel_threads,
    numba,
    reduce_to,
    surrogate_grad,
)

_nb: Any = None
_span: Any = None
if numba is not None:
    from . import _recurrent_numba as _nb
    from ._cpu_util import span as _span

MODELS = ("rleaky", "rsynaptic")


class _Config(NamedTuple):
    reset: int
    delayed: bool
    second: bool
    detach: bool
    dense: bool
    record: bool
    surrogate: Any


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """RLeaky / RSynaptic with any reset, delay, detach and surrogate; not winner-take-all."""
    return model in MODELS and opts is not None and not opts.inhibition


def _np_dtype(dt: torch.dtype) -> Any:
    return np.float32 if dt == torch.float32 else np.float64


def _surrogate_grad(sur: Any, u: Tensor, thr: Tensor) -> Tensor:
    """sg[t] = sur.grad(u[t] - thr, H(u[t] - thr)) over [T, M]; compiled when the surrogate has a
    ``kernel_formula``, else in torch."""
    formula = sur.kernel_formula() if hasattr(sur, "kernel_formula") else None
    if formula is None:
        return surrogate_grad(sur, u, thr)
    npd = _np_dtype(u.dtype)
    sg = big_buffer(tuple(u.shape), u.dtype)
    consts = tuple(npd(c) for c in formula[1])  # the data's precision keeps the formula vectorisable
    _nb.surrogate_kernel(formula[0])(u.numpy(), thr.numpy(), npd(1), npd(0), consts, sg.numpy())
    return sg


class _FusedRecurrent(torch.autograd.Function):
    """(x, s0, v0, i0, alpha, beta, thr, graded, v_scale, W, b) -> (s, v trace, i trace, v final, i final)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: Tensor, s0: Tensor, v0: Tensor, i0: Tensor, alpha: Tensor, beta: Tensor, thr: Tensor,
        graded: Tensor, vscale: Tensor, weight: Tensor, bias: Tensor, cfg: _Config,
    ):
        T, fshape = x.shape[0], x.shape[1:]
        m = math.prod(fshape)
        dt = x.dtype
        npd = _np_dtype(dt)
        ph = np.zeros((1, 1), dtype=npd)
        xs = x.detach().reshape(T, m).contiguous()
        attached_zero = cfg.reset == RESET_CODE["zero"] and cfg.delayed and not cfg.detach
        keep_p = not cfg.second and attached_zero
        # the current trace: recorded, or needed by dL/dalpha or the attached zero reset (else one scratch row)
        keep_i = cfg.second and (cfg.record or attached_zero or ctx.needs_input_grad[4])
        u, out = big_buffer((T, m), dt), big_buffer((T, m), dt)
        itr = big_buffer((T, m), dt) if keep_i else torch.empty((1, m), dtype=dt)
        ptr = big_buffer((T, m), dt) if keep_p else torch.from_numpy(ph)
        # the recursion's state, carried between kernel calls (copies: flat may view the inputs)
        v, cur, sprev = (flat(t, fshape, m).copy() for t in (v0, i0, s0))
        none = np.zeros(0, dtype=npd)
        common = (
            flat(alpha, fshape, m), flat(beta, fshape, m), flat(thr, fshape, m), flat(graded, fshape, m),
            none if cfg.dense else flat(vscale, fshape, m), npd(1), npd(0), cfg.reset, cfg.delayed, cfg.second,
            keep_p,
        )
        with KERNEL_LOCK:
            threads = kernel_threads()
            fwd = _nb.kernel("recurrent_forward", threads)
            state = (v, cur, sprev, np.empty((2, m), dtype=npd), u.numpy(), out.numpy(), itr.numpy(), ptr.numpy())
            blk, xn = _span(m, threads), xs.numpy()
            if cfg.dense:  # one step per call, the feedback W s[t-1] + b by F.linear as in the reference
                w, b = weight.detach(), (bias.detach() if bias.dim() == 1 else None)
                s_prev, out_steps = s0.detach(), out.view(x.shape)
                for t in range(T):
                    rec = torch.nn.functional.linear(s_prev, w, b)  # contiguous, shaped like x[t]
                    fwd(t, t + 1, xn, rec.reshape(m).numpy(), *common, blk, *state)
                    s_prev = out_steps[t].clone()  # a fresh copy: BLAS rounding depends on alignment
            else:
                fwd(0, T, xn, none, *common, blk, *state)
        v_fin, i_fin = torch.from_numpy(v), torch.from_numpy(cur)
        ctx.cfg, ctx.keep_p = cfg, keep_p
        ctx.shapes = (x.shape, alpha.shape, beta.shape, thr.shape, graded.shape, vscale.shape)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u, itr, ptr, s0, v0, i0, alpha, beta, thr, graded, vscale, weight)
        empty = x.new_empty(0)
        if not cfg.record:
            ctx.mark_non_differentiable(empty)
            return out.view(x.shape), empty, empty, v_fin.view(fshape), i_fin.view(fshape)
        if cfg.reset == 0 or cfg.delayed:
            vtr = u
        else:  # the same-step reset, as functional.spiking.same_step_reset writes it
            z = heaviside(u - torch.from_numpy(flat(thr, fshape, m)))
            vtr = u - z * thr.detach().expand(fshape).reshape(m) if cfg.reset == 1 else u * (1 - z)
        i_trace = itr.view(x.shape) if cfg.second else empty
        if not cfg.second:
            ctx.mark_non_differentiable(i_trace)
        return out.view(x.shape), vtr.view(x.shape), i_trace, v_fin.view(fshape), i_fin.view(fshape)

    @staticmethod
    def backward(ctx, gout, gvtr, gitr, gv_fin, gi_fin):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        u, itr, ptr, s0, v0, i0, alpha, beta, thr, graded, vscale, weight = ctx.saved_tensors
        xshape, ashape, bshape, tshape, gshape, vshape = ctx.shapes
        T, fshape = xshape[0], xshape[1:]
        m = math.prod(fshape)
        dt = u.dtype
        npd = _np_dtype(dt)
        ph = np.zeros((1, 1), dtype=npd)
        zeros_m = np.zeros(m, dtype=npd)
        need = ctx.needs_input_grad
        tf = flat(thr, fshape, m)
        thr_b = torch.from_numpy(tf)
        v0f, gf = flat(v0, fshape, m), flat(graded, fshape, m)
        sg = _surrogate_grad(cfg.surrogate, u, thr_b)
        if cfg.reset != 0 and cfg.delayed and not cfg.detach:
            v0s = torch.from_numpy(v0f) - thr_b
            sg0 = cfg.surrogate.grad(v0s, heaviside(v0s)).to(dt).contiguous().numpy()
        else:
            sg0 = zeros_m

        def rows(g: Tensor | None) -> tuple[np.ndarray, bool]:
            if g is None or g.numel() == 0:
                return ph, False
            if T > 1 and g.stride(0) == 0:  # expanded over time (out.sum()): one row serves every step
                return g[:1].reshape(1, m).contiguous().numpy(), True
            return g.reshape(T, m).contiguous().numpy(), True

        (gout_n, has_gout), (gv_n, has_vtr), (gi_n, has_itr) = rows(gout), rows(gvtr), rows(gitr)
        gvf = gv_fin.reshape(m).contiguous().numpy() if gv_fin is not None else zeros_m
        gif = gi_fin.reshape(m).contiguous().numpy() if gi_fin is not None else zeros_m
        dx = big_buffer((T, m), dt)
        # lam = dL/dv, mu = dL/di, gfb = dL/ds (feedback), then the parameter accumulators
        lam = torch.from_numpy(np.array(gvf))
        mu = torch.from_numpy(np.array(gif))
        acc = [torch.zeros(m, dtype=dt) for _ in range(6)]
        gfb, dalpha, dbeta, dthr, dgraded, dvscale = acc
        args = (
            gout_n, gv_n, gi_n, u.numpy(), sg.numpy(), sg0, itr.numpy(), ptr.numpy(),
            flat(s0, fshape, m), v0f, flat(i0, fshape, m), flat(alpha, fshape, m), flat(beta, fshape, m), tf,
            gf, flat(vscale, fshape, m) if not cfg.dense else ph[0],
            npd(1), npd(0), cfg.reset, cfg.delayed, cfg.second, cfg.detach, cfg.dense, ctx.keep_p,
            has_gout, has_vtr, has_itr,
        )
        outs = (dx.numpy(), lam.numpy(), mu.numpy(), *(g.numpy() for g in acc),
                np.empty((5, m), dtype=npd))
        with KERNEL_LOCK:
            threads = kernel_threads()
            bwd = _nb.kernel("recurrent_backward", threads)
            blk = _span(m, threads)  # the backward kernel is elementwise: any split of M works
            if cfg.dense:  # one step at a time: dL/ds[t-1] = dx[t] W by torch's GEMM between steps
                n = xshape[-1]
                w = weight.detach()
                gfb2, dx_steps = gfb.view(-1, n), dx.view(T, -1, n)
                for t in range(T - 1, -1, -1):
                    bwd(t, t + 1, *args, blk, *outs)
                    torch.mm(dx_steps[t], w, out=gfb2)
            else:
                bwd(0, T, *args, blk, *outs)
        ds0 = gfb.view(fshape)
        dv0, di0 = lam.view(fshape), mu.view(fshape)
        dalpha, dbeta, dthr, dgraded, dvscale = (g.view(fshape) for g in acc[1:])
        dweight = dbias = None
        if cfg.dense and (need[9] or need[10]):
            n = xshape[-1]
            gr = dx.view(-1, n)
            if need[9]:  # over the spikes only: s[t-1] recomputed from u
                dwt = torch.zeros((n, n), dtype=dt)
                _nb.weight_grad(u.numpy(), tf, gf, flat(s0, fshape, m), dx.numpy(), n, npd(1), npd(0), dwt.numpy())
                dweight = dwt.t().contiguous()
            if need[10]:
                dbias = gr.sum(0)
        return (
            dx.view(xshape) if need[0] else None,
            reduce_to(ds0, s0.shape) if need[1] else None,
            reduce_to(dv0, v0.shape) if need[2] else None,
            reduce_to(di0, i0.shape) if need[3] and cfg.second else None,
            reduce_to(dalpha, ashape) if need[4] and cfg.second else None,
            reduce_to(dbeta, bshape) if need[5] else None,
            reduce_to(dthr, tshape) if need[6] else None,
            reduce_to(dgraded, gshape) if need[7] else None,
            reduce_to(dvscale, vshape) if need[8] and not cfg.dense else None,
            dweight,
            dbias,
            None,
        )


def _as_param(value: Any, x: Tensor) -> Tensor | None:
    """A number as a 0-d tensor of x's dtype; None for a tensor the kernels cannot read."""
    if isinstance(value, Tensor):
        return value if value.dtype == x.dtype and value.device == x.device else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return x.new_tensor(float(value))
    return None


def _names(model: str, weight: Any) -> list[str]:
    return ["beta", "threshold", "graded"] + (["alpha"] if model == "rsynaptic" else []) + (
        ["v_scale"] if weight is None else [])


def unfusable_reasons(model: str, x: Tensor, state: tuple[Any, ...], params: dict[str, Any]) -> list[str]:
    """Why the fused kernel cannot run this call (all-to-all feedback needs W [N, N] and b [N]
    or None over the last dim of x, in x's dtype and device; every state field and parameter
    a number or a tensor of x's dtype and device)."""
    reasons = []
    if x.dim() < 2 or x.shape[0] == 0 or x.numel() == 0:
        reasons.append(f"input of shape {tuple(x.shape)} is empty")
    weight, bias = params.get("weight"), params.get("bias")
    n = x.shape[-1] if x.dim() else 0
    if weight is not None and not (isinstance(weight, Tensor) and weight.shape == (n, n) and weight.dtype == x.dtype
                                   and weight.device == x.device):
        reasons.append(f"weight must be a [{n}, {n}] {x.dtype} tensor on {x.device}")
    if bias is not None and not (isinstance(bias, Tensor) and bias.shape == (n,) and bias.dtype == x.dtype
                                 and bias.device == x.device):
        reasons.append(f"bias must be None or a [{n}] {x.dtype} tensor on {x.device}")
    for k in _names(model, weight):
        if _as_param(params.get(k), x) is None:
            reasons.append(f"parameter {k!r} is not a number or a {x.dtype} tensor on {x.device}")
    for i, f in enumerate(state):
        if _as_param(f, x) is None:
            reasons.append(f"state field {i} is not a {x.dtype} tensor on {x.device}")
    return reasons


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run ``model`` over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    assert opts is not None
    second = model == "rsynaptic"
    weight, bias = params.get("weight"), params.get("bias")
    reasons = unfusable_reasons(model, x, tuple(state), params)
    if reasons:
        raise ValueError("cpu_recurrent: cannot fuse this call: " + "; ".join(reasons))
    conv = {k: _as_param(params.get(k), x) for k in _names(model, weight)}
    states = tuple(_as_param(f, x) for f in state)
    zero = x.new_zeros(())
    if second:
        s0, i0, v0 = states
    else:
        (s0, v0), i0 = states, zero
    cfg = _Config(RESET_CODE[opts.reset], opts.reset_delay, second, opts.detach, weight is not None, record,
                  opts.surrogate)
    out, v_tr, i_tr, v_fin, i_fin = _FusedRecurrent.apply(
        x, s0, v0, i0, conv.get("alpha", zero), conv["beta"], conv["threshold"], conv["graded"],
        conv.get("v_scale", zero), zero if weight is None else weight, zero if bias is None else bias, cfg,
    )
    if record:
        return out, (RSynapticState(out, i_tr, v_tr) if second else RLeakyState(out, v_tr))
    return out, (RSynapticState(out[-1], i_fin, v_fin) if second else RLeakyState(out[-1], v_fin))
