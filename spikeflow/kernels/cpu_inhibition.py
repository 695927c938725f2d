"""Fused CPU kernels for winner-take-all inhibition (``opts.inhibition``) of leaky, lapicque
and synaptic neurons: compiled forward, hand-written backward through time.

Every reset mode, reset_delay both ways, detach_reset both ways, any surrogate, scalar /
per-neuron / broadcastable beta (decay), alpha, threshold and graded with their gradients,
multi-dimensional features ([T, B, C, H, W]: the winner is taken over all of a sample's
features). Lapicque runs as a second-order model with alpha = 0 on gain x, as in ``cpu.run``.

Saved for backward: the pre-reset membrane u [T, M], the current trace for second-order
models, and the winner index per step and sample [T, B] (int32); spikes and post-reset
membranes are recomputed from them bit for bit. In the common training case (delayed or no
reset without reset gradient, fixed parameters, no trace) the current trace is not kept and
the surrogate is evaluated at the [T, B] winners only.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..functional.options import SpikeOptions
from ..functional.states import LeakyState, SynapticState
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
)

_nb: Any = None
if numba is not None:
    from . import _inhibition_numba as _nb

MODELS = ("leaky", "lapicque", "synaptic")


class _Config(NamedTuple):
    reset: int
    delayed: bool
    clears_input: bool
    second: bool
    detach: bool
    record: bool
    surrogate: Any


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    """Leaky, lapicque and synaptic with ``inhibition`` on, on inputs with a batch dimension."""
    return model in MODELS and opts is not None and opts.inhibition and x.dim() >= 2


def _fast_input_grad(
    cfg: _Config, gs: Tensor | None, gv_fin: Tensor | None, gi_fin: Tensor | None, u: Tensor, win: Tensor,
    v0: Tensor, i0: Tensor, alpha: Tensor, beta: Tensor, thr: Tensor, fshape: torch.Size,
) -> tuple[Tensor, Tensor, Tensor]:
    """dx [T, M], dv0 and di0 (viewed as [B, ...]) for a delayed / no reset without reset gradient.

    The spike gradient reaches only the winners: gs * sg is evaluated at the [T, B] winners, never
    over [T, M].
    """
    T, m = u.shape
    nb, nfeat = fshape[0], math.prod(fshape[1:])
    tf = flat(thr, fshape, m)
    one, zero = one_zero(u.dtype)
    idx = win.long().unsqueeze(-1)  # [T, B, 1]
    if gs is not None:
        thr_win = torch.from_numpy(tf).view(1, nb, nfeat).expand(T, -1, -1).gather(2, idx)
        shifted = u.view(T, nb, nfeat).gather(2, idx) - thr_win
        g_win = gs.reshape(T, nb, nfeat).gather(2, idx) * cfg.surrogate.grad(shifted, heaviside(shifted)).to(u.dtype)
        g_win = g_win.reshape(T, nb).contiguous()
    else:
        g_win = u.new_zeros(T, nb)
    lam = u.new_zeros(m) if gv_fin is None else gv_fin.reshape(m).clone()
    mu = u.new_zeros(m) if gi_fin is None else gi_fin.reshape(m).clone()
    dx = big_buffer((T, m), u.dtype)
    with KERNEL_LOCK:
        _nb.kernel("wta_backward_dx", kernel_threads())(
            g_win.numpy(), win.numpy(), u.numpy(), *(flat(t, fshape, m) for t in (v0, alpha, beta)), tf, one, zero,
            cfg.reset, cfg.delayed, cfg.clears_input, nfeat, lam.numpy(), mu.numpy(), dx.numpy(),
        )
    return dx, lam.view(fshape), mu.view(fshape)


class _FusedWTA(torch.autograd.Function):
    """(x, v0, i0, alpha, beta, thr) -> (s, v trace, i trace, v final, i final) over [T, B, ...]."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, i0: Tensor, alpha: Tensor, beta: Tensor, thr: Tensor, cfg: _Config):  # type: ignore[override]
        T, fshape = x.shape[0], x.shape[1:]
        m = math.prod(fshape)
        nfeat = math.prod(fshape[1:])
        dt = x.dtype
        one, zero = one_zero(dt)
        ph = _nb.placeholder(np.dtype(type(one)))
        xs = x.detach().reshape(T, m).contiguous()
        u, s = big_buffer((T, m), dt), big_buffer((T, m), dt)
        itr = big_buffer((T, m), dt) if cfg.second else None
        keep_v = cfg.record and not cfg.delayed and cfg.reset != 0
        vtr = big_buffer((T, m), dt) if keep_v else None
        win = torch.empty((T, fshape[0]), dtype=torch.int32)
        v_fin, i_fin = torch.empty(m, dtype=dt), torch.empty(m, dtype=dt)
        args = [flat(t, fshape, m) for t in (v0, i0, alpha, beta, thr)]
        with KERNEL_LOCK:
            _nb.kernel("wta_forward", kernel_threads())(
                xs.numpy(), *args, one, zero, cfg.reset, cfg.delayed, cfg.clears_input, cfg.second, keep_v, nfeat,
                u.numpy(), s.numpy(), ph if itr is None else itr.numpy(), ph if vtr is None else vtr.numpy(),
                win.numpy(), v_fin.numpy(), i_fin.numpy(),
            )
        if cfg.record:
            v_trace = (vtr if keep_v else u).view(x.shape)
            i_trace = itr.view(x.shape) if itr is not None else x.new_empty(0)
        else:
            v_trace = i_trace = x.new_empty(0)
        need = ctx.needs_input_grad
        # common training case: only x and the initial state need gradients, through a detached
        # (or no) reset; the backward then needs u and the winners only (not the current trace)
        ctx.fast = (cfg.reset == 0 or (cfg.delayed and cfg.detach)) and not cfg.record and not any(need[3:6])
        ctx.cfg, ctx.shapes = cfg, (x.shape, alpha.shape, beta.shape, thr.shape)
        ctx.set_materialize_grads(False)
        keep_i = itr is not None and not ctx.fast
        ctx.save_for_backward(u, itr if keep_i else x.new_empty(0), win, v0, i0, alpha, beta, thr)
        ctx.mark_non_differentiable(*([] if cfg.record else [v_trace, i_trace]))
        return s.view(x.shape), v_trace, i_trace, v_fin.view(fshape), i_fin.view(fshape)

    @staticmethod
    def backward(ctx, gs, gvtr, gitr, gv_fin, gi_fin):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        xshape, ashape, bshape, tshape = ctx.shapes
        u, itr, win, v0, i0, alpha, beta, thr = ctx.saved_tensors
        T, fshape = xshape[0], xshape[1:]
        m = math.prod(fshape)
        dt = u.dtype
        one, zero = one_zero(dt)
        ph = _nb.placeholder(np.dtype(type(one)))
        tf = flat(thr, fshape, m)
        thr_b = torch.from_numpy(tf)
        if ctx.fast:
            dx, dv0, di0 = _fast_input_grad(cfg, gs, gv_fin, gi_fin, u, win, v0, i0, alpha, beta, thr, fshape)
            need = ctx.needs_input_grad
            return (
                dx.view(xshape) if need[0] else None,
                reduce_to(dv0, v0.shape) if need[1] else None,
                reduce_to(di0, i0.shape) if need[2] and cfg.second else None,
                None, None, None, None,
            )
        has_gs = gs is not None
        has_vtr = cfg.record and gvtr is not None and gvtr.numel() > 0
        has_itr = cfg.record and cfg.second and gitr is not None and gitr.numel() > 0
        need_sg = has_gs or (cfg.reset != 0 and not cfg.detach)
        if need_sg:
            sg = surrogate_grad(cfg.surrogate, u, thr_b)
            v0s = torch.from_numpy(flat(v0, fshape, m)) - thr_b
            sg0 = cfg.surrogate.grad(v0s, heaviside(v0s)).to(dt).contiguous()
        else:
            sg, sg0 = torch.zeros((1, 1), dtype=dt), torch.zeros(m, dtype=dt)

        def rows(g: Tensor | None, on: bool) -> np.ndarray:
            return g.reshape(T, m).contiguous().numpy() if on else ph

        def vec(g: Tensor | None) -> np.ndarray:
            return np.zeros(m, dtype=ph.dtype) if g is None else g.reshape(m).contiguous().numpy()

        dx = big_buffer((T, m), dt)
        grads = [np.zeros(m, dtype=ph.dtype) for _ in range(5)]
        with KERNEL_LOCK:
            _nb.kernel("wta_backward", kernel_threads())(
                rows(gs, has_gs), rows(gvtr, has_vtr), rows(gitr, has_itr), vec(gv_fin), vec(gi_fin),
                u.numpy(), sg.numpy(), sg0.numpy(), itr.numpy() if cfg.second else ph, win.numpy(),
                *(flat(t, fshape, m) for t in (v0, i0, alpha, beta)), tf, one, zero,
                cfg.reset, cfg.delayed, cfg.clears_input, cfg.second, cfg.detach, has_gs, has_vtr, has_itr,
                need_sg, math.prod(fshape[1:]), dx.numpy(), *grads,
            )
        dv0, di0, dalpha, dbeta, dthr = (torch.from_numpy(g).view(fshape) for g in grads)
        need = ctx.needs_input_grad
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
    """Run ``model`` with winner-take-all inhibition over x [T, B, ...]; see ``spikeflow.kernels.run``."""
    if not supports(model, x, opts):
        raise ValueError(f"cpu_inhibition: model {model!r} with options {opts} is not fused here")
    assert opts is not None

    def param(name: str) -> Tensor:
        return torch.as_tensor(params[name]).to(x.dtype)

    zero = x.new_zeros(())
    second = model != "leaky"
    if model == "lapicque":  # gain x, then a second-order run with alpha = 0 (i[t] = x[t])
        x = param("gain") * x
        v0, i0, alpha, beta = state.v, zero, zero, param("decay")
    elif model == "synaptic":
        i0, v0 = state
        alpha, beta = param("alpha"), param("beta")
    else:
        v0, i0, alpha, beta = state.v, zero, zero, param("beta")
    cfg = _Config(RESET_CODE[opts.reset], opts.reset_delay, second, second, opts.detach, record, opts.surrogate)
    s, v_tr, i_tr, v_fin, i_fin = _FusedWTA.apply(x, v0, i0, alpha, beta, param("threshold"), cfg)
    out = scale_graded(s, params["graded"])
    if model == "synaptic":
        return out, (SynapticState(i_tr, v_tr) if record else SynapticState(i_fin, v_fin))
    return out, (LeakyState(v_tr) if record else LeakyState(v_fin))
