"""Triton backend: fused forward and hand-written backward through time on the GPU.

Covers leaky (and IF), lapicque, synaptic, li and cuba_li (the models of the ``cpu`` backend,
mapped the same way), plus the alpha and adaptive (ALIF) neurons, with every reset mode,
reset_delay both ways, detach_reset both ways, scalar / per-neuron / broadcastable parameters
with gradients, graded spikes and any surrogate, on float32 / float64 CUDA tensors. CPU
tensors run through the Triton interpreter when ``TRITON_INTERPRET=1`` was set before the
kernels were first loaded (tests only: slow). Winner-take-all inhibition and the recurrent
models go elsewhere.

Saved for backward: the input x (usually a Linear's output, alive anyway) and O(M) tensors;
the backward first re-runs the forward kernel to rebuild the pre-reset membranes (and the
current / adaptation traces) [T, M] bit for bit, then walks time backwards. With ``record``
the LIF and alpha traces are outputs anyway and are saved instead of recomputed. No per-step
autograd graph. ATan (the default surrogate) is evaluated inside the backward kernels; any
other surrogate's ``grad`` runs vectorised in torch on the rebuilt membranes. Triton is
imported lazily, on the first call that may use it: ``import spikeflow`` never imports it.
"""

from __future__ import annotations

import functools
import math
import os
from types import ModuleType
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .. import surrogate
from ..functional.options import SpikeOptions
from ..functional.states import AdaptiveState, AlphaState
from ._cpu_util import RESET_CODE, heaviside, reduce_to, scale_graded  # noqa: F401
from .lif_family import MODELS, LIFConfig, run_lif_family

ALL_MODELS = (*MODELS, "alpha", "adaptive")
GPU_BLOCK, GPU_WARPS = 128, 4  # neurons per program on the GPU: many programs, one neuron per thread
INTERPRET_BLOCK = 4096  # the interpreter runs a program as numpy ops: fewer, larger programs


@functools.lru_cache(maxsize=None)
def _triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _kernels() -> ModuleType:
    """The kernel module, imported (and decorated by ``triton.jit``) on first use."""
    from . import _triton_kernels

    return _triton_kernels


def _interpreted() -> bool:
    """Whether the loaded kernels run in the Triton interpreter (they were decorated under TRITON_INTERPRET=1)."""
    return type(_kernels().lif_forward).__name__ == "InterpretedFunction"


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """True for the fused models on float32/float64 CUDA tensors (or CPU tensors under TRITON_INTERPRET=1).

    Declines winner-take-all inhibition, ``torch.compile`` tracing and machines without triton.
    """
    if model not in ALL_MODELS or (opts is not None and opts.inhibition):
        return False
    if x.dtype not in (torch.float32, torch.float64) or torch.compiler.is_compiling():
        return False
    if x.is_cuda:
        return _triton_importable()
    if x.device.type != "cpu" or os.environ.get("TRITON_INTERPRET") != "1" or not _triton_importable():
        return False
    return _interpreted()


_Config = LIFConfig


def _vec(t: Tensor, like: Tensor, fshape: torch.Size, m: int) -> Tensor:
    """A scalar / per-neuron / per-sample tensor expanded to a contiguous [M] in like's dtype and device."""
    return t.detach().to(device=like.device, dtype=like.dtype).expand(fshape).reshape(m).contiguous()


def _launch(kernel: Any, m: int, device: torch.device, *args: Any, **flags: Any) -> None:
    """Run ``kernel`` over M neurons (one program per block), without fused multiply-add."""
    block = GPU_BLOCK if device.type == "cuda" else min(INTERPRET_BLOCK, max(16, 1 << (m - 1).bit_length()))
    grid = (max(1, math.ceil(m / block)),)
    kernel[grid](*args, **flags, BLOCK=block, num_warps=GPU_WARPS, enable_fp_fusion=False)


def _grad_for(g: Tensor, p: Tensor) -> Tensor:
    """Per-element partials [B, ...] summed to parameter p's shape, dtype and device."""
    return reduce_to(g, p.shape).to(device=p.device, dtype=p.dtype)


def _atan_constants(sur: Any) -> tuple[float, float] | None:
    """(alpha/2, pi/2 alpha) when sur is spikeflow's ATan with its own derivative (evaluated in the kernel)."""
    if not isinstance(sur, surrogate.ATan):
        return None
    formula = sur.kernel_formula()
    return None if formula is None else (formula[1][0], formula[1][1])


def _forward_kernel(xs: Tensor, vecs: list[Tensor], cfg: _Config, save_s: bool, save_u: bool, save_i: bool,
                    keep_v: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Run ``lif_forward``: (s, u, itr, vtr, v_fin, i_fin), unrequested [T, M] arrays as 1-element placeholders."""
    T, m = xs.shape
    ph = xs.new_empty(1)

    def buf(wanted: bool) -> Tensor:
        return xs.new_empty((T, m)) if wanted else ph

    s, u, itr, vtr = buf(save_s), buf(save_u), buf(save_i), buf(keep_v)
    v_fin, i_fin = xs.new_empty(m), xs.new_empty(m)
    _launch(
        _kernels().lif_forward, m, xs.device, xs, *vecs, u, s, itr, vtr, v_fin, i_fin, T, m,
        RESET=cfg.reset, DELAYED=cfg.delayed, CLEARS_INPUT=cfg.clears_input, SECOND=cfg.second,
        SAVE_S=save_s, SAVE_U=save_u, SAVE_I=save_i, KEEP_V=keep_v,
    )
    return s, u, itr, vtr, v_fin, i_fin


class _TritonLIF(torch.autograd.Function):
    """(x, v0, i0, alpha, beta, thr) -> (s, v trace, i trace, v final, i final) over [T, B, ...]."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, i0: Tensor, alpha: Tensor, beta: Tensor, thr: Tensor, cfg: _Config):  # type: ignore[override]
        T, fshape = x.shape[0], x.shape[1:]
        m = math.prod(fshape)
        xs = x.detach().reshape(T, m).contiguous()
        vecs = [_vec(p, xs, fshape, m) for p in (v0, i0, alpha, beta, thr)]
        keep_v = cfg.record and not cfg.delayed and cfg.reset != 0
        s, u, itr, vtr, v_fin, i_fin = _forward_kernel(
            xs, vecs, cfg, True, cfg.record, cfg.record and cfg.second, keep_v
        )
        if cfg.record:
            v_trace = (vtr if keep_v else u).view(x.shape)
            i_trace = itr.view(x.shape) if cfg.second else x.new_empty(0)
        else:
            v_trace = i_trace = x.new_empty(0)
        ctx.cfg = cfg
        ctx.shape = x.shape
        ctx.set_materialize_grads(False)
        if any(ctx.needs_input_grad[:6]):
            # record: the traces exist anyway, keep them; else keep the input and recompute u in backward
            saved = (u, itr if cfg.second else None) if cfg.record else (xs, None)
            ctx.save_for_backward(*saved, v0, i0, alpha, beta, thr)
        ctx.mark_non_differentiable(*([] if cfg.record else [v_trace, i_trace]))
        return s.view(x.shape), v_trace, i_trace, v_fin.view(fshape), i_fin.view(fshape)

    @staticmethod
    def backward(ctx, gs, gvtr, gitr, gv_fin, gi_fin):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        first, itr, v0, i0, alpha, beta, thr = ctx.saved_tensors
        T, fshape = ctx.shape[0], ctx.shape[1:]
        m = math.prod(fshape)
        vecs = [_vec(p, first, fshape, m) for p in (v0, i0, alpha, beta, thr)]
        v0f, i0f, af, bf, tf = vecs
        if cfg.record:
            u = first
        else:  # rebuild u (and i) from the saved input, bit for bit
            _, u, itr, _, _, _ = _forward_kernel(first, vecs, cfg, False, True, cfg.second, False)
        ph = u.new_empty(1)
        has_gs = gs is not None and cfg.surrogate is not None
        has_vtr = gvtr is not None and gvtr.numel() > 0
        has_itr = gitr is not None and gitr.numel() > 0
        need_sg = has_gs or (cfg.reset != 0 and not cfg.detach)
        atan = _atan_constants(cfg.surrogate) if need_sg else None
        sg, sg0, sgc = ph, ph, ph
        if atan is not None:
            sgc = torch.tensor(atan, dtype=u.dtype, device=u.device)
        elif need_sg:  # the surrogate derivative, vectorised in torch on the membranes
            shifted = u - tf
            sg = cfg.surrogate.grad(shifted, heaviside(shifted)).to(u.dtype).contiguous()
            shifted0 = v0f - tf
            sg0 = cfg.surrogate.grad(shifted0, heaviside(shifted0)).to(u.dtype).contiguous()
            del shifted

        def rows(g: Tensor | None, used: bool) -> Tensor:
            return g.reshape(T, m).to(u.dtype).contiguous() if used and g is not None else ph

        def vec_or_zero(g: Tensor | None) -> Tensor:
            return u.new_zeros(m) if g is None else g.reshape(m).to(u.dtype).contiguous()

        dx = u.new_empty((T, m))
        grads = [u.new_empty(m) for _ in range(5)]
        _launch(
            _kernels().lif_backward, m, u.device,
            rows(gs, has_gs), rows(gvtr, has_vtr), rows(gitr, has_itr), vec_or_zero(gv_fin), vec_or_zero(gi_fin),
            u, sg, sg0, sgc, itr if itr is not None else ph, *vecs, dx, *grads,
            T, m, (T - 1) * m,
            RESET=cfg.reset, DELAYED=cfg.delayed, CLEARS_INPUT=cfg.clears_input, SECOND=cfg.second,
            DETACH=cfg.detach, HAS_GS=has_gs, HAS_VTR=has_vtr, HAS_ITR=has_itr, HAS_SG=need_sg,
            SG_ATAN=atan is not None,
        )
        dv0, di0, dalpha, dbeta, dthr = (g.view(fshape) for g in grads)
        need = ctx.needs_input_grad
        return (
            dx.view(ctx.shape) if need[0] else None,
            _grad_for(dv0, v0) if need[1] else None,
            _grad_for(di0, i0) if need[2] and cfg.second else None,
            _grad_for(dalpha, alpha) if need[3] and cfg.second else None,
            _grad_for(dbeta, beta) if need[4] else None,
            _grad_for(dthr, thr) if need[5] else None,
            None,
        )


class _AlphaConfig(NamedTuple):
    reset: int  # 0 when no reset applies (reset "none" or reset_delay False)
    detach: bool
    record: bool
    surrogate: Any


def _alpha_forward_kernel(xs: Tensor, state: list[Tensor], p: list[Tensor], cfg: _AlphaConfig, save_s: bool,
                          save_tr: bool) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Run ``alpha_forward``: (s, [e, h, v] traces, [e, h, v] final), unrequested arrays as placeholders."""
    T, m = xs.shape
    ph = xs.new_empty(1)
    s = xs.new_empty((T, m)) if save_s else ph
    traces = [xs.new_empty((T, m)) if save_tr else ph for _ in range(3)]
    finals = [xs.new_empty(m) for _ in range(3)]
    _launch(_kernels().alpha_forward, m, xs.device, xs, *state, *p, s, *traces, *finals, T, m,
            RESET=cfg.reset, SAVE_S=save_s, SAVE_TR=save_tr)
    return s, traces, finals


class _TritonAlpha(torch.autograd.Function):
    """(x, e0, h0, w0, alpha, beta, tau, thr) -> (s, e/h/v traces, e/h/v final) over [T, B, ...]."""

    @staticmethod
    def forward(ctx, x: Tensor, e0: Tensor, h0: Tensor, w0: Tensor, alpha: Tensor, beta: Tensor,  # type: ignore[override]
                tau: Tensor, thr: Tensor, cfg: _AlphaConfig):
        T, fshape = x.shape[0], x.shape[1:]
        m = math.prod(fshape)
        xs = x.detach().reshape(T, m).contiguous()
        state = [_vec(t, xs, fshape, m) for t in (e0, h0, w0)]
        p = [_vec(t, xs, fshape, m) for t in (alpha, beta, tau, thr)]
        s, traces, finals = _alpha_forward_kernel(xs, state, p, cfg, True, cfg.record)
        ctx.cfg, ctx.shape = cfg, x.shape
        ctx.set_materialize_grads(False)
        if any(ctx.needs_input_grad[:8]):  # the traces when recorded, else recomputed from x in backward
            ctx.save_for_backward(xs, *(traces if cfg.record else (None, None, None)),
                                  e0, h0, w0, alpha, beta, tau, thr)
        if cfg.record:
            out_tr = [t.view(x.shape) for t in traces]
        else:
            empty = x.new_empty(0)
            ctx.mark_non_differentiable(empty)
            out_tr = [empty, empty, empty]
        return (s.view(x.shape), *out_tr, *(f.view(fshape) for f in finals))

    @staticmethod
    def backward(ctx, gs, ge_tr, gh_tr, gv_tr, ge_fin, gh_fin, gv_fin):  # type: ignore[override]
        cfg: _AlphaConfig = ctx.cfg
        xs, etr, htr, vtr, e0, h0, w0, alpha, beta, tau, thr = ctx.saved_tensors
        T, fshape = ctx.shape[0], ctx.shape[1:]
        m = math.prod(fshape)
        state = [_vec(t, xs, fshape, m) for t in (e0, h0, w0)]
        p = [_vec(t, xs, fshape, m) for t in (alpha, beta, tau, thr)]
        if not cfg.record:  # rebuild the traces from the saved input, bit for bit
            _, (etr, htr, vtr), _ = _alpha_forward_kernel(xs, state, p, cfg, False, True)
        ph = xs.new_empty(1)
        has_gs = gs is not None
        has_tr = cfg.record and any(g is not None for g in (ge_tr, gh_tr, gv_tr))
        need_sg = has_gs or (cfg.reset != 0 and not cfg.detach)
        atan = _atan_constants(cfg.surrogate) if need_sg else None
        sg, sg0, sgc = ph, ph, ph
        if atan is not None:
            sgc = torch.tensor(atan, dtype=xs.dtype, device=xs.device)
        elif need_sg:
            shifted = vtr - p[3]
            sg = cfg.surrogate.grad(shifted, heaviside(shifted)).to(xs.dtype).contiguous()
            shifted0 = state[2] - p[3]
            sg0 = cfg.surrogate.grad(shifted0, heaviside(shifted0)).to(xs.dtype).contiguous()
            del shifted

        def rows(g: Tensor | None) -> Tensor:
            return xs.new_zeros(1) if g is None else g.reshape(T, m).to(xs.dtype).contiguous()

        def vec(g: Tensor | None) -> Tensor:
            return xs.new_zeros(m) if g is None else g.reshape(m).to(xs.dtype).contiguous()

        if has_tr:  # absent trace gradients as zeros (rare: a recorded trace partly used)
            ge_tr, gh_tr, gv_tr = (torch.zeros_like(xs) if g is None else g for g in (ge_tr, gh_tr, gv_tr))
        dx = xs.new_empty((T, m))
        grads = [xs.new_empty(m) for _ in range(7)]
        _launch(
            _kernels().alpha_backward, m, xs.device, xs, etr, htr, vtr, *state, *p,
            rows(gs), *(rows(g if has_tr else None) for g in (ge_tr, gh_tr, gv_tr)),
            vec(ge_fin), vec(gh_fin), vec(gv_fin), sg, sg0, sgc, dx, *grads, T, m, (T - 1) * m,
            RESET=cfg.reset, DETACH=cfg.detach, HAS_GS=has_gs, HAS_TR=has_tr, HAS_SG=need_sg,
            SG_ATAN=atan is not None,
        )
        need = ctx.needs_input_grad
        leaves = (e0, h0, w0, alpha, beta, tau, thr)
        return (
            dx.view(ctx.shape) if need[0] else None,
            *(_grad_for(g.view(fshape), leaf) if need[k + 1] else None
              for k, (g, leaf) in enumerate(zip(grads, leaves, strict=True))),
            None,
        )


def _run_alpha(x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions, record: bool
               ) -> tuple[Tensor, AlphaState]:
    alpha, beta, thr = (torch.as_tensor(params[k], device=x.device) for k in ("alpha", "beta", "threshold"))
    tau = torch.log(alpha) / (torch.log(beta) - torch.log(alpha)) + 1  # as functional.alpha_step
    reset = RESET_CODE[opts.reset] if opts.reset_delay else 0  # the model defines only the delayed reset
    cfg = _AlphaConfig(reset, opts.detach, record, opts.surrogate)
    e0, h0, w0 = state
    s, etr, htr, vtr, e_fin, h_fin, v_fin = _TritonAlpha.apply(x, e0, h0, w0, alpha, beta, tau, thr, cfg)
    out = scale_graded(s, params["graded"])
    return out, (AlphaState(etr, htr, vtr) if record else AlphaState(e_fin, h_fin, v_fin))


class _AdaptiveConfig(NamedTuple):
    reset: int
    delayed: bool
    detach: bool
    record: bool
    surrogate: Any


def _adaptive_forward_kernel(xs: Tensor, state: list[Tensor], p: list[Tensor], cfg: _AdaptiveConfig, save_s: bool,
                             save_ua: bool, keep_v: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Run ``adaptive_forward``: (s, u, a trace, v trace, v final, a final), unrequested arrays as placeholders."""
    T, m = xs.shape
    ph = xs.new_empty(1)

    def buf(wanted: bool) -> Tensor:
        return xs.new_empty((T, m)) if wanted else ph

    s, u, atr, vtr = buf(save_s), buf(save_ua), buf(save_ua), buf(keep_v)
    v_fin, a_fin = xs.new_empty(m), xs.new_empty(m)
    _launch(_kernels().adaptive_forward, m, xs.device, xs, *state, *p, s, u, atr, vtr, v_fin, a_fin, T, m,
            RESET=cfg.reset, DELAYED=cfg.delayed, SAVE_S=save_s, SAVE_UA=save_ua, KEEP_V=keep_v)
    return s, u, atr, vtr, v_fin, a_fin


class _TritonAdaptive(torch.autograd.Function):
    """(x, v0, a0, z0, beta, rho, adaptation, thr) -> (z, v trace, a trace, v final, a final) over [T, B, ...].

    The spike trace z is also the state's z trace; the final z is z[T - 1]. Saved for backward:
    the input; u and a are recomputed (bit for bit) by the backward.
    """

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, a0: Tensor, z0: Tensor, beta: Tensor, rho: Tensor,  # type: ignore[override]
                adaptation: Tensor, thr: Tensor, cfg: _AdaptiveConfig):
        T, fshape = x.shape[0], x.shape[1:]
        m = math.prod(fshape)
        xs = x.detach().reshape(T, m).contiguous()
        state = [_vec(t, xs, fshape, m) for t in (v0, a0, z0)]
        p = [_vec(t, xs, fshape, m) for t in (beta, rho, adaptation, thr)]
        keep_v = cfg.record and not cfg.delayed and cfg.reset != 0
        s, u, atr, vtr, v_fin, a_fin = _adaptive_forward_kernel(xs, state, p, cfg, True, cfg.record, keep_v)
        ctx.cfg, ctx.shape = cfg, x.shape
        ctx.set_materialize_grads(False)
        if any(ctx.needs_input_grad[:8]):
            ctx.save_for_backward(xs, v0, a0, z0, beta, rho, adaptation, thr)
        if cfg.record:
            v_trace, a_trace = (vtr if keep_v else u).view(x.shape), atr.view(x.shape)
        else:
            v_trace = a_trace = x.new_empty(0)
            ctx.mark_non_differentiable(v_trace, a_trace)
        return s.view(x.shape), v_trace, a_trace, v_fin.view(fshape), a_fin.view(fshape)

    @staticmethod
    def backward(ctx, gs, gvtr, gatr, gv_fin, ga_fin):  # type: ignore[override]
        cfg: _AdaptiveConfig = ctx.cfg
        xs, v0, a0, z0, beta, rho, adaptation, thr = ctx.saved_tensors
        T, fshape = ctx.shape[0], ctx.shape[1:]
        m = math.prod(fshape)
        state = [_vec(t, xs, fshape, m) for t in (v0, a0, z0)]
        p = [_vec(t, xs, fshape, m) for t in (beta, rho, adaptation, thr)]
        _, u, atr, _, _, _ = _adaptive_forward_kernel(xs, state, p, cfg, False, True, False)
        ph = xs.new_empty(1)
        atan = _atan_constants(cfg.surrogate)
        sg, sgc = ph, ph
        if atan is not None:
            sgc = torch.tensor(atan, dtype=xs.dtype, device=xs.device)
        else:  # the surrogate derivative at u - b, b = thr + a, vectorised in torch
            shifted = u - (p[3] + atr)
            sg = cfg.surrogate.grad(shifted, heaviside(shifted)).to(xs.dtype).contiguous()
            del shifted
        has_vtr = gvtr is not None and gvtr.numel() > 0
        has_atr = gatr is not None and gatr.numel() > 0

        def rows(g: Tensor | None, used: bool) -> Tensor:
            return g.reshape(T, m).to(xs.dtype).contiguous() if used and g is not None else ph

        def vec(g: Tensor | None) -> Tensor:
            return xs.new_zeros(m) if g is None else g.reshape(m).to(xs.dtype).contiguous()

        dx = xs.new_empty((T, m))
        grads = [xs.new_empty(m) for _ in range(7)]
        _launch(
            _kernels().adaptive_backward, m, xs.device, u, atr, *state, *p,
            rows(gs, gs is not None), rows(gvtr, has_vtr), rows(gatr, has_atr), vec(gv_fin), vec(ga_fin), sg, sgc,
            dx, *grads, T, m, (T - 1) * m,
            RESET=cfg.reset, DELAYED=cfg.delayed, DETACH=cfg.detach, HAS_GS=gs is not None, HAS_VTR=has_vtr,
            HAS_ATR=has_atr, SG_ATAN=atan is not None,
        )
        need = ctx.needs_input_grad
        leaves = (v0, a0, z0, beta, rho, adaptation, thr)
        return (
            dx.view(ctx.shape) if need[0] else None,
            *(_grad_for(g.view(fshape), leaf) if need[k + 1] else None
              for k, (g, leaf) in enumerate(zip(grads, leaves, strict=True))),
            None,
        )


def _run_adaptive(x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions, record: bool
                  ) -> tuple[Tensor, AdaptiveState]:
    beta, rho, adaptation, thr = (torch.as_tensor(params[k], dtype=x.dtype, device=x.device)
                                  for k in ("beta", "rho", "adaptation", "threshold"))
    cfg = _AdaptiveConfig(RESET_CODE[opts.reset], opts.reset_delay, opts.detach, record, opts.surrogate)
    v0, a0, z0 = state
    s, v_tr, a_tr, v_fin, a_fin = _TritonAdaptive.apply(x, v0, a0, z0, beta, rho, adaptation, thr, cfg)
    out = scale_graded(s, params["graded"])
    if record:
        return out, AdaptiveState(v_tr, a_tr, s)
    return out, AdaptiveState(v_fin, a_fin, s[-1])


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run ``model`` over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    if not supports(model, x, opts):
        raise ValueError(f"triton backend: model {model!r} on {x.device} {x.dtype} with options {opts} is not fused")
    if model == "alpha":
        assert opts is not None
        return _run_alpha(x, state, params, opts, record)
    if model == "adaptive":
        assert opts is not None
        return _run_adaptive(x, state, params, opts, record)
    def generic(x: Tensor, v0: Tensor, i0: Tensor, alpha: Tensor, beta: Tensor, thr: Tensor, cfg: LIFConfig):
        v0, i0, alpha, beta, thr = (p if isinstance(p, Tensor) else torch.as_tensor(p, dtype=x.dtype, device=x.device)
                                    for p in (v0, i0, alpha, beta, thr))
        return _TritonLIF.apply(x, v0, i0, alpha, beta, thr, cfg)

    return run_lif_family(generic, model, x, state, params, opts, record)
