"""Fused CPU kernels for the alpha neuron: compiled forward, hand-written backward through time.

Every reset mode with the delayed reset (the only one the model defines), detach_reset both
ways, any surrogate, scalar / per-neuron / broadcastable alpha, beta, threshold, graded, and
gradients for all of them, x and the initial state. tau_a = log(alpha) / (log(beta) - log(alpha)) + 1
is computed in torch exactly as ``functional.alpha_step`` does, so its gradient reaches alpha
and beta through autograd.

Saved for backward without ``record``: the input x [T, M] (a view when contiguous) and the
state entering each cache-sized chunk of steps [C, 3, M]; the backward recomputes the chunk's
currents and membranes bit for bit and walks it backwards. With ``record`` the traces are
outputs anyway and are saved instead of recomputed. In the common training case (detached
or no reset, fixed parameters, no trace) the backward recomputes only the membranes.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..functional.options import SpikeOptions
from ..functional.states import AlphaState
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
    surrogate_grad,
    time_chunks,
)

_nb: Any = None
if numba is not None:
    from . import _alpha_numba as _nb


class _Config(NamedTuple):
    reset: int
    detach: bool
    record: bool
    surrogate: Any


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """The alpha model with the delayed reset and without winner-take-all inhibition."""
    return model == "alpha" and opts is not None and opts.reset_delay and not opts.inhibition


def _forward(cfg: _Config, xs: Tensor, state: list[np.ndarray], p: list[np.ndarray], threads: int,
             blk: int, traces: list[Tensor] | None, s: Tensor) -> Tensor:
    """Run all steps; state [e, h, w] is advanced in place. Returns checkpoints [C, 3, M]
    (the state entering each chunk) when ``traces`` is None, else fills the traces [T, M]."""
    T, m = xs.shape
    one, zero = one_zero(xs.dtype)
    fwd = _nb.kernel("alpha_forward", threads)
    if traces is not None:
        fwd(xs.numpy(), *state, *p, one, zero, cfg.reset, True, blk, *(t.numpy() for t in traces), s.numpy())
        return xs.new_empty(0)
    chunks = time_chunks(T, m)
    ckpt = torch.empty((len(chunks), 3, m), dtype=xs.dtype)
    cn = ckpt.numpy()
    vbuf = np.empty((chunks[0][1] if chunks else 0, m), dtype=cn.dtype)
    ph = _nb.placeholder(cn.dtype)
    xn, sn = xs.numpy(), s.numpy()
    for c, (t0, t1) in enumerate(chunks):
        for k in range(3):
            cn[c, k] = state[k]
        fwd(xn[t0:t1], *state, *p, one, zero, cfg.reset, False, blk, ph, ph, vbuf[: t1 - t0], sn[t0:t1])
    return ckpt


def _vec(g: Tensor | None, m: int, dtype: np.dtype) -> np.ndarray:
    """A gradient [B, ...] (None: zeros) as a fresh writable numpy array [M]."""
    return np.zeros(m, dtype=dtype) if g is None else g.reshape(m).contiguous().numpy().copy()


def _fast_input_grad(
    cfg: _Config, gs: Tensor | None, gv_fin: Tensor | None, ge_fin: Tensor | None, gh_fin: Tensor | None,
    xs: Tensor, ckpt: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor, thr: Tensor, fshape: torch.Size,
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """dx [T, M] and dL/d(e0, h0) [M] with a detached (or no) reset and fixed parameters.

    Walks the chunks backwards; each chunk's membranes are recomputed from its checkpoint and
    gs * sg is formed in torch one chunk at a time (the currents are never materialised).
    """
    T, m = xs.shape
    one, zero = one_zero(xs.dtype)
    npd = np.dtype(type(one))
    p = [flat(t, fshape, m) for t in (alpha, beta, tau, thr)]
    thr_b = torch.from_numpy(p[3])
    lam = [_vec(ge_fin, m, npd), _vec(gh_fin, m, npd)]
    dx = big_buffer((T, m), xs.dtype)
    chunks = time_chunks(T, m)
    ph = _nb.placeholder(npd)
    gsr = None if gs is None else gs.reshape(T, m)
    with KERNEL_LOCK:
        threads = kernel_threads()
        blk = _nb.span(m, threads)
        fwd, bwd = _nb.kernel("alpha_forward", threads), _nb.kernel("alpha_backward_dx", threads)
        vbuf, sbuf = (np.empty((chunks[0][1] if chunks else 0, m), dtype=npd) for _ in range(2))
        for c in range(len(chunks) - 1, -1, -1):
            t0, t1 = chunks[c]
            prev = [ckpt[c, k].numpy() for k in range(3)]
            vc = vbuf[: t1 - t0]
            fwd(xs[t0:t1].numpy(), *(a.copy() for a in prev), *p, one, zero, cfg.reset, False, blk, ph, ph, vc,
                sbuf[: t1 - t0])
            if gsr is not None:
                g = gsr[t0:t1] * surrogate_grad(cfg.surrogate, torch.from_numpy(vc), thr_b)
            else:
                g = xs.new_zeros(t1 - t0, m)
            if gv_fin is not None and t1 == T:
                g[-1] += gv_fin.reshape(m)
            bwd(g.contiguous().numpy(), vc, prev[2], *p, one, zero, cfg.reset, blk, *lam, dx[t0:t1].numpy())
    return dx, lam[0], lam[1]


class _FusedAlpha(torch.autograd.Function):
    """(x, e0, h0, w0, alpha, beta, tau, thr) -> (s, e/h/v traces, e/h/v final) over [T, B, ...]."""

    @staticmethod
    def forward(ctx, x: Tensor, e0: Tensor, h0: Tensor, w0: Tensor, alpha: Tensor, beta: Tensor,  # type: ignore[override]
                tau: Tensor, thr: Tensor, cfg: _Config):
        T, fshape = x.shape[0], x.shape[1:]
        m = math.prod(fshape)
        xs = x.detach().reshape(T, m).contiguous()
        state = [flat(t, fshape, m).copy() for t in (e0, h0, w0)]
        p = [flat(t, fshape, m) for t in (alpha, beta, tau, thr)]
        s = big_buffer((T, m), x.dtype)
        traces = [big_buffer((T, m), x.dtype) for _ in range(3)] if cfg.record else None
        with KERNEL_LOCK:
            threads = kernel_threads()
            ckpt = _forward(cfg, xs, state, p, threads, _nb.span(m, threads), traces, s)
        ctx.cfg, ctx.shapes = cfg, (x.shape, alpha.shape, beta.shape, tau.shape, thr.shape)
        # common training case: gradients for x and the initial currents only, through a detached reset
        ctx.fast = (cfg.reset == 0 or cfg.detach) and not cfg.record and not any(ctx.needs_input_grad[4:8])
        ctx.set_materialize_grads(False)
        if traces is None:
            ctx.save_for_backward(xs, ckpt, e0, h0, w0, alpha, beta, tau, thr)
            empty = x.new_empty(0)
            ctx.mark_non_differentiable(empty)
            out_tr = [empty, empty, empty]
        else:
            out_tr = [t.view(x.shape) for t in traces]
            ctx.save_for_backward(xs, *traces, e0, h0, w0, alpha, beta, tau, thr)
        finals = [torch.from_numpy(a).view(fshape) for a in state]
        return (s.view(x.shape), *out_tr, *finals)

    @staticmethod
    def backward(ctx, gs, ge_tr, gh_tr, gv_tr, ge_fin, gh_fin, gv_fin):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        xshape, ashape, bshape, tashape, tshape = ctx.shapes
        saved = ctx.saved_tensors
        if cfg.record:
            xs, etr, htr, vtr, e0, h0, w0, alpha, beta, tau, thr = saved
        else:
            xs, ckpt, e0, h0, w0, alpha, beta, tau, thr = saved
        T, fshape = xshape[0], xshape[1:]
        need = ctx.needs_input_grad
        if ctx.fast:
            dx, de0, dh0 = _fast_input_grad(cfg, gs, gv_fin, ge_fin, gh_fin, xs, ckpt, alpha, beta, tau, thr, fshape)
            return (
                dx.view(xshape) if need[0] else None,
                reduce_to(torch.from_numpy(de0).view(fshape), e0.shape) if need[1] else None,
                reduce_to(torch.from_numpy(dh0).view(fshape), h0.shape) if need[2] else None,
                None, None, None, None, None, None,
            )
        m = math.prod(fshape)
        dt = xs.dtype
        one, zero = one_zero(dt)
        ph = _nb.placeholder(np.dtype(type(one)))
        p = [flat(t, fshape, m) for t in (alpha, beta, tau, thr)]
        thr_b = torch.from_numpy(p[3])
        s0 = [flat(t, fshape, m) for t in (e0, h0, w0)]
        has_tr = cfg.record and any(g is not None for g in (ge_tr, gh_tr, gv_tr))
        has_sg = gs is not None or (cfg.reset != 0 and not cfg.detach)
        zrow = np.zeros((1, m), dtype=ph.dtype)  # stands for an absent [T, M] gradient
        grows = [None if g is None or not (k == 0 or has_tr) else g.reshape(T, m)
                 for k, g in enumerate((gs, ge_tr, gh_tr, gv_tr))]
        lam = [_vec(g, m, ph.dtype) for g in (ge_fin, gh_fin, gv_fin)]
        dr = np.zeros(m, dtype=ph.dtype)
        dx = big_buffer((T, m), dt)
        dp = [np.zeros(m, dtype=ph.dtype) for _ in range(4)]
        chunks = time_chunks(T, m)
        with KERNEL_LOCK:
            threads = kernel_threads()
            blk = _nb.span(m, threads)
            fwd, bwd = _nb.kernel("alpha_forward", threads), _nb.kernel("alpha_backward", threads)
            bufs = [np.empty((chunks[0][1] if chunks else 0, m), dtype=ph.dtype) for _ in range(0 if cfg.record else 4)]
            for c in range(len(chunks) - 1, -1, -1):
                t0, t1 = chunks[c]
                if cfg.record:  # the traces were saved
                    ec, hc, vc = (a[t0:t1].numpy() for a in (etr, htr, vtr))
                    prev = [a[t0 - 1].numpy() for a in (etr, htr, vtr)] if t0 > 0 else s0
                else:  # recompute the chunk from its checkpoint (bit for bit)
                    prev = [ckpt[c, k].numpy() for k in range(3)]
                    ec, hc, vc, sc = (b[: t1 - t0] for b in bufs)
                    fwd(xs[t0:t1].numpy(), *(a.copy() for a in prev), *p, one, zero, cfg.reset, True, blk,
                        ec, hc, vc, sc)
                sg = surrogate_grad(cfg.surrogate, torch.from_numpy(vc), thr_b).numpy() if has_sg else zrow
                gc = [zrow if g is None else g[t0:t1].contiguous().numpy() for g in grows]
                bwd(xs[t0:t1].numpy(), ec, hc, vc, sg, *gc, *prev, *p, one, zero, cfg.reset, cfg.detach, blk,
                    *lam, dr, dx[t0:t1].numpy(), *dp)
        de0, dh0 = (torch.from_numpy(a) for a in lam[:2])
        dalpha, dbeta, dtau, dthr = (torch.from_numpy(a) for a in dp)
        dw0 = torch.zeros(m, dtype=dt)
        if cfg.reset != 0 and not cfg.detach:  # the first step's reset signal is a surrogate spike of w0
            shifted = torch.from_numpy(s0[2]) - thr_b
            g0 = torch.from_numpy(dr) * cfg.surrogate.grad(shifted, heaviside(shifted)).to(dt)
            dw0 += g0
            dthr -= g0
        return (
            dx.view(xshape) if need[0] else None,
            reduce_to(de0.view(fshape), e0.shape) if need[1] else None,
            reduce_to(dh0.view(fshape), h0.shape) if need[2] else None,
            reduce_to(dw0.view(fshape), w0.shape) if need[3] else None,
            reduce_to(dalpha.view(fshape), ashape) if need[4] else None,
            reduce_to(dbeta.view(fshape), bshape) if need[5] else None,
            reduce_to(dtau.view(fshape), tashape) if need[6] else None,
            reduce_to(dthr.view(fshape), tshape) if need[7] else None,
            None,
        )


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run the alpha neuron over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    if not supports(model, x, opts):
        raise ValueError(f"cpu_alpha: model {model!r} with options {opts} is not fused here")
    assert opts is not None
    alpha, beta, thr = (torch.as_tensor(params[k]).to(x.dtype) for k in ("alpha", "beta", "threshold"))
    tau = torch.log(alpha) / (torch.log(beta) - torch.log(alpha)) + 1  # as functional.alpha_step
    cfg = _Config(RESET_CODE[opts.reset], opts.detach, record, opts.surrogate)
    e0, h0, w0 = state
    s, etr, htr, vtr, e_fin, h_fin, v_fin = _FusedAlpha.apply(x, e0, h0, w0, alpha, beta, tau, thr, cfg)
    out = scale_graded(s, params["graded"])
    return out, (AlphaState(etr, htr, vtr) if record else AlphaState(e_fin, h_fin, v_fin))
