"""Fused CPU backend: compiled forward and hand-written backward through time (numba).

Covers leaky (and IF), lapicque, synaptic, li and cuba_li with every reset mode, reset_delay
both ways, detach_reset both ways, scalar or per-neuron beta / alpha / threshold (with their
gradients), graded spikes and any surrogate. Extension modules fuse the other models with
the same interface: cpu_inhibition (winner-take-all for leaky / lapicque / synaptic),
cpu_alpha, cpu_adaptive and cpu_recurrent (RLeaky / RSynaptic). Dtypes other than
float32/float64, other devices and torch.compile go to ``reference``.

Saved for backward: the pre-reset membrane u [T, B, ...] (spikes and post-reset membranes
are recomputed from it bit for bit), plus the current trace i for second-order models, and
O(B x N) tensors. No per-step autograd graph is built. In the common training case (first
order, detached reset, beta and threshold without gradient, no recorded trace) the input x
(typically a Linear's output, which exists anyway) and one [B x N] checkpoint per chunk of
steps are saved instead of u; the backward recomputes u a cache-sized chunk at a time and
evaluates the surrogate inside the compiled recurrence when it has a ``kernel_formula``
(forward and backward are then one compiled call each).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..functional.options import SpikeOptions
from ._cpu_util import (
    KERNEL_LOCK,
    big_buffer,
    chunk_steps,
    flat,
    heaviside,
    kernel_threads,
    numba,
    one_zero,
    reduce_to,
    surrogate_grad,
)
from .lif_family import MODELS, LIFConfig, run_lif_family

_nb: Any = None
if numba is not None:
    from . import _lif_numba as _nb

# fused models beyond the first/second-order LIF family; each module has supports() and run()
from . import cpu_adaptive, cpu_alpha, cpu_inhibition, cpu_recurrent  # noqa: E402

EXTENSIONS = (cpu_inhibition, cpu_alpha, cpu_adaptive, cpu_recurrent)



_Config = LIFConfig


def _own(model: str, opts: SpikeOptions | None) -> bool:
    """Models this module's kernels run (the others go to an extension below)."""
    return model in MODELS and not (opts is not None and opts.inhibition)


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """True on CPU float32/float64 tensors for the models fused here or by an extension.

    Under ``torch.compile`` the compiled kernels cannot be traced, so ``auto`` takes reference.
    """
    return (
        _nb is not None
        and not torch.compiler.is_compiling()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and (_own(model, opts) or any(ext.supports(model, x, opts) for ext in EXTENSIONS))
    )


def _leaky_forward_ckpt(
    cfg: _Config, xs: Tensor, v0f: np.ndarray, bf: np.ndarray, tf: np.ndarray, threads: int, blk: int, steps: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Spikes s [T, M], final v [M] and checkpoints [C, M] (the state entering each chunk of
    ``steps`` steps), in one compiled call.

    The pre-reset membranes u are not kept: the backward recomputes them from xs and the
    checkpoints (bit for bit).
    """
    T, m = xs.shape
    one, zero = one_zero(xs.dtype)
    s = big_buffer((T, m), xs.dtype)
    ckpt = torch.empty(((T + steps - 1) // steps, m), dtype=xs.dtype)
    v_fin = torch.empty(m, dtype=xs.dtype)
    _nb.kernel("leaky_forward_ckpt", threads)(
        xs.numpy(), v0f, bf, tf, one, zero, cfg.reset, cfg.delayed, blk, steps, s.numpy(), ckpt.numpy(),
        v_fin.numpy(),
    )
    return s, v_fin, ckpt


def _spike_grad_rows(gs: Tensor, T: int, m: int) -> tuple[np.ndarray, bool]:
    """gs as a C-contiguous [T, M] array, or as one [1, M] row (True) when it is the same at
    every step (an expanded gradient, e.g. of a loss on spike counts): no [T, M] copy then."""
    gs2 = gs.detach().reshape(T, m)  # a view when gs is expanded or contiguous
    if T > 1 and gs2.stride(0) == 0:
        return gs2[:1].contiguous().numpy(), True
    return gs2.contiguous().numpy(), False


def _leaky_input_grad(
    cfg: _Config, gs: Tensor, u: Tensor | None, xs: Tensor | None, ckpt: Tensor | None, thr_b: Tensor,
    v0f: np.ndarray, bf: np.ndarray, tf: np.ndarray, threads: int, blk: int, steps: int, dx: Tensor, lam: Tensor,
) -> None:
    """dx [T, M] and dL/dv0 (in ``lam``, which holds dL/dv[T-1] on entry) of a first-order run.

    Detached reset, no beta / threshold gradients. Walks time backwards in chunks of ``steps``.
    A surrogate with a ``kernel_formula`` is evaluated inside the compiled recurrence, and with
    u None (checkpointed forward) the whole walk, recomputation included, is one compiled call.
    For any other surrogate, g = gs * surrogate.grad(u - thr, H(u - thr)) is computed in torch
    for one chunk and consumed at once. sg is never materialised at [T, M].
    """
    T, m = dx.shape
    one, zero = one_zero(dx.dtype)
    dxn, lamn = dx.numpy(), lam.numpy()
    formula = cfg.surrogate.kernel_formula() if hasattr(cfg.surrogate, "kernel_formula") else None
    if formula is not None:  # constants in the data's precision, so that the formula stays vectorisable
        consts = tuple(type(one)(c) for c in formula[1])
        if u is None:
            assert xs is not None and ckpt is not None
            gsn, shared = _spike_grad_rows(gs, T, m)
            _nb.with_formula("leaky_backward_ckpt", formula[0], threads)(
                xs.numpy(), ckpt.numpy(), gsn, shared, lamn, bf, tf, one, zero, cfg.reset, cfg.delayed, blk, steps,
                dxn, consts,
            )
            return
        bwd = _nb.with_formula("leaky_backward_dx", formula[0], threads)
    else:
        bwd, consts = _nb.kernel("leaky_backward_dx", threads), (one,)
    gs2 = gs.detach().reshape(T, m)
    gs2n = gs2.numpy()  # strides kept (0 for an expanded gradient)
    if u is None:
        assert xs is not None and ckpt is not None
        fwd = _nb.kernel("leaky_forward", threads)
        xn, cn = xs.numpy(), ckpt.numpy()
        ubuf = torch.empty((min(steps, T), m), dtype=dx.dtype)
        sbuf, vbuf = torch.empty_like(ubuf).numpy(), np.empty(m, dtype=xn.dtype)
    chunks = [(t0, min(t0 + steps, T)) for t0 in range(0, T, steps)]
    for c in range(len(chunks) - 1, -1, -1):
        t0, t1 = chunks[c]
        if u is None:
            uc = ubuf[: t1 - t0]
            vprev = cn[c]
            fwd(xn[t0:t1], vprev, bf, tf, one, zero, cfg.reset, cfg.delayed, blk, uc.numpy(), sbuf[: t1 - t0], vbuf)
        else:
            uc = u[t0:t1]
            vprev = u.numpy()[t0 - 1] if t0 > 0 else v0f
        if formula is None:  # surrogate without a kernel formula: gs * sg in torch, one chunk at a time
            shifted = uc - thr_b
            sg = cfg.surrogate.grad(shifted, heaviside(shifted)).to(dx.dtype)
            gc = (gs2[t0:t1] * sg).contiguous().numpy()
        else:
            gc = np.ascontiguousarray(gs2n[t0:t1])  # numpy: no OpenMP region per chunk
        bwd(gc, uc.numpy(), vprev, lamn, bf, tf, one, zero, cfg.reset, cfg.delayed, blk, dxn[t0:t1], consts)


class _FusedLIF(torch.autograd.Function):
    """(x, v0, i0, alpha, beta, thr) -> (s, v trace, i trace, v final, i final) over [T, B, ...]."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, i0: Tensor, alpha: Tensor, beta: Tensor, thr: Tensor, cfg: _Config):  # type: ignore[override]
        T = x.shape[0]
        fshape = x.shape[1:]
        m = math.prod(fshape)
        dt = x.dtype
        npd = np.float32 if dt == torch.float32 else np.float64
        xs = x.detach().reshape(T, m).contiguous()
        need = ctx.needs_input_grad
        # checkpointed: keep the input (usually the Linear output, alive anyway until saved here)
        # instead of allocating u; backward recomputes u a chunk at a time
        ckpt_mode = not cfg.second and not cfg.record and cfg.detach and not (need[4] or need[5])
        v0f, i0f = flat(v0, fshape, m), flat(i0, fshape, m)
        af, bf, tf = flat(alpha, fshape, m), flat(beta, fshape, m), flat(thr, fshape, m)
        ctx.cfg = cfg
        ctx.shapes = (x.shape, alpha.shape, beta.shape, thr.shape)
        ctx.ckpt = ckpt_mode
        ctx.set_materialize_grads(False)
        if ckpt_mode:
            with KERNEL_LOCK:
                threads = kernel_threads()
                blk = _nb.span(m, threads)
                ctx.steps = chunk_steps(blk)
                s, v_fin, ckpt = _leaky_forward_ckpt(cfg, xs, v0f, bf, tf, threads, blk, ctx.steps)
            ctx.save_for_backward(xs, ckpt, v0, i0, alpha, beta, thr)
            empty = x.new_empty(0)
            ctx.mark_non_differentiable(empty, empty)
            return s.view(x.shape), empty, empty, v_fin.view(fshape), x.new_zeros(fshape)
        u = big_buffer((T, m), dt)
        s = big_buffer((T, m), dt)
        itr = big_buffer((T, m), dt) if cfg.second else None
        vtr_needed = cfg.record and not cfg.delayed and cfg.reset != 0
        vtr = big_buffer((T, m), dt) if vtr_needed else None
        v_fin = torch.empty(m, dtype=dt)
        i_fin = torch.empty(m, dtype=dt)
        ph = _nb.empty(npd)
        with KERNEL_LOCK:
            threads = kernel_threads()
            blk = _nb.span(m, threads)
            if not cfg.second and not vtr_needed:
                i_fin.zero_()
                _nb.kernel("leaky_forward", threads)(
                    xs.numpy(), v0f, bf, tf, npd(1), npd(0), cfg.reset, cfg.delayed, blk, u.numpy(), s.numpy(),
                    v_fin.numpy(),
                )
            else:
                _nb.kernel("lif_forward", threads)(
                    xs.numpy(), v0f, i0f, af, bf, tf, npd(1), npd(0),
                    cfg.reset, cfg.delayed, cfg.clears_input, cfg.second, vtr_needed, blk,
                    u.numpy(), s.numpy(), ph if itr is None else itr.numpy(), ph if vtr is None else vtr.numpy(),
                    v_fin.numpy(), i_fin.numpy(),
                )
        if cfg.record:
            v_trace = (vtr if vtr_needed else u).view(x.shape)
            i_trace = itr.view(x.shape) if cfg.second else x.new_empty(0)
        else:
            v_trace = i_trace = x.new_empty(0)
        ctx.save_for_backward(u, itr if itr is not None else x.new_empty(0), v0, i0, alpha, beta, thr)
        ctx.mark_non_differentiable(*([] if cfg.record else [v_trace, i_trace]))
        return s.view(x.shape), v_trace, i_trace, v_fin.view(fshape), i_fin.view(fshape)

    @staticmethod
    def backward(ctx, gs, gvtr, gitr, gv_fin, gi_fin):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        xshape, ashape, bshape, tshape = ctx.shapes
        if ctx.ckpt:
            xs, ckpt, v0, i0, alpha, beta, thr = ctx.saved_tensors
            u = itr = None
        else:
            u, itr, v0, i0, alpha, beta, thr = ctx.saved_tensors
            xs = ckpt = None
        T = xshape[0]
        fshape = xshape[1:]
        m = math.prod(fshape)
        dt = (u if u is not None else xs).dtype
        npd = np.float32 if dt == torch.float32 else np.float64
        ph = _nb.empty(npd)
        tf = flat(thr, fshape, m)
        thr_b = torch.from_numpy(tf)
        v0f, bf = flat(v0, fshape, m), flat(beta, fshape, m)
        has_gs = gs is not None
        has_vtr = gvtr is not None and gvtr.numel() > 0
        has_itr = gitr is not None and gitr.numel() > 0
        need = ctx.needs_input_grad
        # common training case: first order, detached reset, spike gradient only, fixed beta / thr
        fast = not cfg.second and cfg.detach and has_gs and not has_vtr and not (need[4] or need[5])
        if u is None and not fast:  # checkpointed forward, rare backward: recompute the whole u
            assert xs is not None
            u = big_buffer((T, m), dt)
            with KERNEL_LOCK:
                threads = kernel_threads()
                _nb.kernel("leaky_forward", threads)(
                    xs.numpy(), v0f, bf, tf, npd(1), npd(0), cfg.reset, cfg.delayed, _nb.span(m, threads),
                    u.numpy(), big_buffer((T, m), dt).numpy(), np.empty(m, dtype=npd),
                )
        # surrogate derivative, vectorised on the recomputed shifted membranes
        need_sg = has_gs or (cfg.reset != 0 and not cfg.detach)
        if fast:  # the surrogate is evaluated chunk by chunk inside _leaky_input_grad
            sg = sg0 = None
        elif need_sg:
            sg = surrogate_grad(cfg.surrogate, u, thr_b)
            v0s = v0.detach().expand(fshape).reshape(m) - thr_b
            sg0 = cfg.surrogate.grad(v0s, heaviside(v0s)).to(dt).contiguous()
        else:
            sg, sg0 = torch.zeros((1, 1), dtype=dt), torch.zeros(m, dtype=dt)
            has_gs = False
        gs_n = gs.reshape(T, m).contiguous().numpy() if has_gs and not fast else ph
        gv_n = gvtr.reshape(T, m).contiguous().numpy() if has_vtr else ph
        gi_n = gitr.reshape(T, m).contiguous().numpy() if has_itr else ph
        zeros_m = np.zeros(m, dtype=npd)
        gvf = gv_fin.reshape(m).contiguous().numpy() if gv_fin is not None else zeros_m
        gif = gi_fin.reshape(m).contiguous().numpy() if gi_fin is not None else zeros_m
        dx = big_buffer((T, m), dt)
        grads = [torch.empty(m, dtype=dt) for _ in range(5)]
        with KERNEL_LOCK:
            threads = kernel_threads()
            blk = _nb.span(m, threads)
            if fast:
                grads[0].copy_(torch.from_numpy(gvf))
                steps = ctx.steps if ctx.ckpt else chunk_steps(blk)
                _leaky_input_grad(cfg, gs, u, xs, ckpt, thr_b, v0f, bf, tf, threads, blk, steps, dx, grads[0])
            elif not cfg.second and cfg.detach and has_gs and not has_vtr:
                dv0, dbeta, dthr = grads[0], grads[3], grads[4]
                _nb.kernel("leaky_backward", threads)(
                    gs_n, gvf, u.numpy(), sg.numpy(), v0f, bf, tf,
                    npd(1), npd(0), cfg.reset, cfg.delayed, blk, dx.numpy(), dv0.numpy(), dbeta.numpy(),
                    dthr.numpy(),
                )
            else:
                _nb.kernel("lif_backward", threads)(
                    gs_n, gv_n, gi_n, gvf, gif, u.numpy(), sg.numpy(), sg0.numpy(),
                    itr.numpy() if cfg.second else ph,
                    flat(v0, fshape, m), flat(i0, fshape, m), flat(alpha, fshape, m), flat(beta, fshape, m), tf,
                    npd(1), npd(0), cfg.reset, cfg.delayed, cfg.clears_input, cfg.second, cfg.detach,
                    has_gs, has_vtr, has_itr, need_sg, blk, dx.numpy(), *(g.numpy() for g in grads),
                )
        dv0, di0, dalpha, dbeta, dthr = (g.view(fshape) for g in grads)
        return (
            dx.view(xshape) if need[0] else None,
            reduce_to(dv0, v0.shape) if need[1] else None,
            reduce_to(di0, i0.shape) if need[2] and cfg.second else None,
            reduce_to(dalpha, ashape) if need[3] and cfg.second else None,
            reduce_to(dbeta, bshape) if need[4] else None,
            reduce_to(dthr, tshape) if need[5] else None,
            None,
        )


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run ``model`` over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    if not _own(model, opts):
        for ext in EXTENSIONS:
            if ext.supports(model, x, opts):
                return ext.run(model, x, state, params, opts, record)
        raise ValueError(f"cpu backend: model {model!r} with options {opts} is not fused")
    return run_lif_family(_FusedLIF.apply, model, x, state, params, opts, record)
