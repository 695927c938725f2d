"""Fused CPU kernel for the adaptive-threshold LIF (model "adaptive"), hand-written BPTT.

Every reset mode, reset_delay both ways, detach_reset both ways, any surrogate, scalar /
per-neuron / broadcastable beta, rho, adaptation, threshold and graded (all learnable), and
gradients wrt x and every field of the initial state (v0, a0, z0). Winner-take-all
inhibition goes elsewhere.

Saved for backward: the pre-reset membrane u [T, B, ...] and the adaptation a at the start
of every chunk of steps ([C, B, ...], C = T / chunk length); the backward rebuilds a, the
spikes and the post-reset membranes from them bit for bit, a cache-sized chunk at a time,
and evaluates the surrogate inside the compiled loop when it has a ``kernel_formula``
(ATan), else ``surrogate.grad`` on each chunk in torch. No per-step autograd graph.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..functional.options import SpikeOptions
from ..functional.states import AdaptiveState
from ._cpu_util import (
    KERNEL_LOCK,
    RESET_CODE,
    big_buffer,
    flat,
    heaviside,
    kernel_threads,
    numba,
    one_zero,
    reduce_to,
    scale_graded,
    time_chunks,
)

_nb: Any = None
if numba is not None:
    from . import _adaptive_numba as _nb
    from ._lif_numba import span


class _Config(NamedTuple):
    reset: int
    delayed: bool
    detach: bool
    record: bool
    surrogate: Any


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """The adaptive model without winner-take-all inhibition (cpu.supports checks the rest)."""
    return _nb is not None and model == "adaptive" and opts is not None and not opts.inhibition


def _numpy_or(t: Tensor | None, shape: tuple[int, int], placeholder: np.ndarray) -> tuple[np.ndarray, bool]:
    """A contiguous [T, M] numpy view of an incoming gradient, or the placeholder when absent."""
    if t is None or t.numel() == 0:
        return placeholder, False
    return t.detach().reshape(shape).contiguous().numpy(), True


class _FusedAdaptive(torch.autograd.Function):
    """(x, v0, a0, z0, beta, rho, adaptation, thr) -> (s, v trace, a trace, v final, a final)."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, a0: Tensor, z0: Tensor, beta: Tensor, rho: Tensor,  # type: ignore[override]
                adp: Tensor, thr: Tensor, cfg: _Config):
        T = x.shape[0]
        fshape = x.shape[1:]
        m = math.prod(fshape)
        dt = x.dtype
        one, zero = one_zero(dt)
        xs = x.detach().reshape(T, m).contiguous()
        chunks = time_chunks(T, m)
        L = chunks[0][1] - chunks[0][0] if chunks else 1
        u = big_buffer((T, m), dt)
        s = big_buffer((T, m), dt)
        ckpt = torch.empty((len(chunks), m), dtype=dt)
        keep_v = cfg.record and not cfg.delayed and cfg.reset != 0
        ph = np.zeros((1, 1), dtype=xs.numpy().dtype)
        vtr = big_buffer((T, m), dt) if keep_v else None
        atr = big_buffer((T, m), dt) if cfg.record else None
        v_fin = torch.empty(m, dtype=dt)
        a_fin = torch.empty(m, dtype=dt)
        with KERNEL_LOCK:
            threads = kernel_threads()
            _nb.kernel("adaptive_forward", threads)(
                xs.numpy(), flat(v0, fshape, m), flat(a0, fshape, m), flat(z0, fshape, m),
                flat(beta, fshape, m), flat(rho, fshape, m), flat(adp, fshape, m), flat(thr, fshape, m),
                one, zero, cfg.reset, cfg.delayed, cfg.record, L, span(m, threads),
                u.numpy(), s.numpy(), ph if vtr is None else vtr.numpy(), ph if atr is None else atr.numpy(),
                ckpt.numpy(), v_fin.numpy(), a_fin.numpy(),
            )
        ctx.cfg = cfg
        ctx.chunks = chunks
        ctx.shapes = (x.shape, v0.shape, a0.shape, z0.shape, beta.shape, rho.shape, adp.shape, thr.shape)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u, ckpt, v0, a0, z0, beta, rho, adp, thr)
        if cfg.record:
            v_trace = (vtr if keep_v else u).view(x.shape)
            a_trace = atr.view(x.shape)
        else:
            v_trace = a_trace = x.new_empty(0)
            ctx.mark_non_differentiable(v_trace, a_trace)
        return s.view(x.shape), v_trace, a_trace, v_fin.view(fshape), a_fin.view(fshape)

    @staticmethod
    def backward(ctx, gs, gvtr, gatr, gv_fin, ga_fin):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        u, ckpt, v0, a0, z0, beta, rho, adp, thr = ctx.saved_tensors
        xshape = ctx.shapes[0]
        T, m = u.shape
        fshape = xshape[1:]
        dt = u.dtype
        one, zero = one_zero(dt)
        ph = np.zeros((1, 1), dtype=u.numpy().dtype)
        gs_n, has_gs = _numpy_or(gs, (T, m), ph)
        gv_n, has_gv = _numpy_or(gvtr, (T, m), ph)
        ga_n, has_ga = _numpy_or(gatr, (T, m), ph)
        lam_v = torch.zeros(m, dtype=dt) if gv_fin is None else gv_fin.detach().reshape(m).clone()
        lam_a = torch.zeros(m, dtype=dt) if ga_fin is None else ga_fin.detach().reshape(m).clone()
        lam_z = torch.zeros(m, dtype=dt)
        grads = [torch.zeros(m, dtype=dt) for _ in range(4)]  # beta, rho, adaptation, threshold
        v0f, z0f = flat(v0, fshape, m), flat(z0, fshape, m)
        bf, rf, af, tf = (flat(p, fshape, m) for p in (beta, rho, adp, thr))
        dx = big_buffer((T, m), dt)
        un, cn = u.numpy(), ckpt.numpy()
        a0f = flat(a0, fshape, m)
        chunks = ctx.chunks
        abuf_all = torch.empty((chunks[0][1] - chunks[0][0] if chunks else 0, m), dtype=dt)
        formula = cfg.surrogate.kernel_formula() if hasattr(cfg.surrogate, "kernel_formula") else None
        with KERNEL_LOCK:
            threads = kernel_threads()
            blk = span(m, threads)
            rebuild = _nb.kernel("adaptive_rebuild", threads)
            if formula is None:  # sg = surrogate.grad(u - b, s) in torch, one chunk at a time
                bwd, consts = _nb.kernel("adaptive_backward", threads), (one,)
            else:  # evaluated inside the kernel; constants in the data's precision
                bwd, consts = _nb.with_formula(formula[0], threads), tuple(type(one)(c) for c in formula[1])
                sg_n = np.zeros((1, m), dtype=un.dtype)
            sh_all = torch.empty_like(abuf_all) if formula is None else torch.zeros((1, 1), dtype=dt)
            for c in range(len(chunks) - 1, -1, -1):
                t0, t1 = chunks[c]
                abuf = abuf_all[: t1 - t0]
                a_in = a0f if t0 == 0 else cn[c]
                shifted = sh_all[: t1 - t0]
                rebuild(un, a_in, z0f, rf, af, tf, one, zero, t0, blk, formula is None, abuf.numpy(), shifted.numpy())
                if formula is None:
                    sg_n = cfg.surrogate.grad(shifted, heaviside(shifted)).to(dt).contiguous().numpy()
                bwd(
                    gs_n, gv_n, ga_n, un, abuf.numpy(), sg_n, a_in, v0f, z0f, bf, rf, af, tf, one, zero,
                    cfg.reset, cfg.delayed, cfg.detach, has_gs, has_gv, has_ga, formula is None, t0, blk,
                    dx.numpy(), lam_v.numpy(), lam_a.numpy(), lam_z.numpy(), *(g.numpy() for g in grads), consts,
                )
        need = ctx.needs_input_grad
        _, v0s, a0s, z0s, bs, rs, ads, ts = ctx.shapes
        states = [(lam_v, v0s), (lam_a, a0s), (lam_z, z0s)]
        out_states = [reduce_to(g.view(fshape), shp) if need[1 + i] else None for i, (g, shp) in enumerate(states)]
        out_params = [
            reduce_to(g.view(fshape), shp) if need[4 + i] else None
            for i, (g, shp) in enumerate(zip(grads, (bs, rs, ads, ts), strict=True))
        ]
        return (dx.view(xshape) if need[0] else None, *out_states, *out_params, None)


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run the adaptive LIF over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    if not supports(model, x, opts):
        raise ValueError(f"cpu_adaptive: expected model 'adaptive' without inhibition, got {model!r} with {opts}")
    assert opts is not None
    v0, a0, z0 = (torch.as_tensor(f, dtype=x.dtype) for f in state)
    beta, rho, adp, thr = (
        torch.as_tensor(params[k], dtype=x.dtype) for k in ("beta", "rho", "adaptation", "threshold")
    )
    cfg = _Config(RESET_CODE[opts.reset], opts.reset_delay, opts.detach, record, opts.surrogate)
    s, v_tr, a_tr, v_fin, a_fin = _FusedAdaptive.apply(x, v0, a0, z0, beta, rho, adp, thr, cfg)
    out = scale_graded(s, params["graded"])
    if record:
        return out, AdaptiveState(v_tr, a_tr, s)
    return out, AdaptiveState(v_fin, a_fin, s[-1])
