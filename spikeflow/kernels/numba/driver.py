"""The CPU (numba) driver of ``FusedScan``: forward and chunked backward over generated code.

Saved for backward: the input x (usually a Linear's output, alive anyway) and the state
entering every chunk of L steps ([C, F + 1, B x N]); the backward recomputes a chunk into a
span-private scratch (cache-sized) and walks it backwards. A surrogate with a
``kernel_formula`` is evaluated inside the compiled loop (the whole backward is one call);
any other surrogate is evaluated in torch on each chunk's u - b between two calls.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._cpu_util import BLOCK, KERNEL_LOCK, big_buffer, heaviside, kernel_threads
from ..fused import NonFiniteInput, Plan, flat_rows, incoming, initial_reset, numel_steps
from .codegen import drivers, scratch_rows


def _formula(sur: Any) -> tuple[Any, tuple[float, ...]] | None:
    f = sur.kernel_formula() if sur is not None and hasattr(sur, "kernel_formula") else None
    return None if f is None else (f[0], tuple(f[1]))


# A block's backward working set (its scratch, the chunk of x it reads twice and of dx it writes)
# has to stay in a core's L2 cache: blocks of at most SPAN_BYTES per row and a scratch of about
# CHUNK_ELEMS elements (benchmarks/neuron_alone.py compares layouts: at T=100 B=32 N=512 on one
# thread with a 2 MiB L2, one block of 16,384 neurons was ~10 % slower than blocks of 2,048).
SPAN_BYTES = 8192
CHUNK_ELEMS = 1 << 17


def _span(x: Tensor, m: int, threads: int, wta: bool) -> tuple[int, int]:
    """(neurons per block, neurons per sample for winner-take-all: blocks hold whole samples).

    Every thread gets the same number of blocks of about equal size (a multiple of BLOCK
    neurons, at most SPAN_BYTES of one row), so that no thread waits for another."""
    if not wta:
        cap = max(BLOCK, SPAN_BYTES // x.element_size() // BLOCK * BLOCK)
        per_thread = math.ceil(m / max(1, threads))
        nblocks = max(1, threads) * max(1, math.ceil(per_thread / cap))
        return max(BLOCK, math.ceil(math.ceil(m / nblocks) / BLOCK) * BLOCK), 0  # m = 0: one empty block
    nf = m // max(1, x.shape[1]) if x.dim() > 1 else 1
    return -(-x.shape[1] // threads) * nf if x.dim() > 1 else m, max(1, nf)


def _scratch_steps(blk: int, rows: int) -> int:
    """Steps per chunk: a block's scratch ([L, rows, blk]) stays about CHUNK_ELEMS elements."""
    return max(1, CHUNK_ELEMS // max(1, blk * rows))


class NumbaDriver:
    """Forward / backward of FusedScan on CPU tensors (float32 / float64)."""

    def forward(self, plan: Plan, x: Tensor, fields: list[Tensor], kp: list[Tensor]
                ) -> tuple[Tensor, list[Tensor], Any]:
        spec, cfg = plan.spec, plan.cfg
        T, fshape, m = numel_steps(x)
        F, dt = len(spec.fields), x.dtype
        xs = x.detach().reshape(T, m).contiguous()
        st0 = flat_rows([*fields, initial_reset(spec, cfg, fields, kp)], fshape, m, dt)
        prm = flat_rows(kp, fshape, m, dt)
        s = big_buffer((T, m), dt)
        trc = torch.empty((F, T, m) if cfg.record else (F, 1, 1), dtype=dt)
        fin = torch.empty((F, m), dtype=dt)
        with KERNEL_LOCK:
            threads = kernel_threads()
            blk, nf = _span(x, m, threads, cfg.inhibition)
            L = _scratch_steps(blk, scratch_rows(spec, cfg.inhibition))
            ckpt = torch.empty(((T + L - 1) // L, F + 1, m), dtype=dt)
            mod = drivers(spec, None, 0, False, cfg.inhibition)
            iv = np.array([L, blk, int(cfg.record), 0, 0, 0, 0, 0, nf], dtype=np.int64)
            bad = np.zeros(max(1, -(-m // blk)), dtype=np.bool_)  # per span: whether x held NaN / inf
            (mod.forward_par if threads > 1 else mod.forward_ser)(
                xs.numpy(), st0.numpy(), prm.numpy(), self._fl(cfg, dt), iv, s.numpy(), trc.numpy(), ckpt.numpy(),
                fin.numpy(), bad,
            )
        if plan.check_finite and bad.any():
            raise NonFiniteInput()
        outs = list(trc.view(F, *x.shape).unbind(0) if cfg.record else fin.view(F, *fshape).unbind(0))
        return s.view(x.shape), outs, (ckpt, L, prm)

    @staticmethod
    def _fl(cfg: Any, dt: torch.dtype) -> np.ndarray:
        return np.array([1.0, *cfg.weights, cfg.nd], dtype=np.float32 if dt == torch.float32 else np.float64)

    def backward(self, plan: Plan, saved: Any, x: Tensor, fields: list[Tensor], kp: list[Tensor],
                 gout: Tensor | None, gfields: list[Tensor | None], need_params: bool
                 ) -> tuple[Tensor, list[Tensor], list[Tensor], Tensor]:
        spec, cfg = plan.spec, plan.cfg
        ckpt, L, prm = saved  # prm: the parameter rows the forward read
        T, fshape, m = numel_steps(x)
        F, P, dt = len(spec.fields), len(spec.kernel_params), x.dtype
        xs = x.detach().reshape(T, m).contiguous()
        gs, shared, lam, gtr, has_gtr = incoming(plan, gout, gfields, x)
        dprm = torch.zeros((P, m), dtype=dt)
        dx = big_buffer((T, m), dt)
        formula = _formula(cfg.surrogate) if spec.spiking else None
        one = np.float32(1) if dt == torch.float32 else np.float64(1)
        C = ckpt.shape[0]
        with KERNEL_LOCK:
            threads = kernel_threads()
            blk, nf = _span(x, m, threads, cfg.inhibition)
            fl = self._fl(cfg, dt)
            lean = cfg.detach and not has_gtr and formula is not None  # the training case, specialised
            mod = drivers(spec, None if formula is None else formula[0], 0 if formula is None else len(formula[1]),
                          need_params, cfg.inhibition, lean)
            bwd = mod.backward_par if threads > 1 else mod.backward_ser
            args = [xs.numpy(), ckpt.numpy(), prm.numpy(), fl]
            tail = [gs.numpy(), gtr.numpy(), lam.numpy(), dprm.numpy(), dx.numpy()]
            gtr_on = int(has_gtr)
            if formula is not None or not spec.spiking:
                consts = tuple(type(one)(c) for c in formula[1]) if formula is not None else (one,)
                iv = np.array([L, blk, 0, 0, C, 0, shared, gtr_on, nf], dtype=np.int64)
                bwd(*args, iv, *tail, np.zeros((1, 1), dtype=type(one)), consts)
            else:  # surrogate without a formula: u - b of a chunk, its sg in torch, then the chunk's backward
                buf = torch.empty((min(L, T), m), dtype=dt)
                for c in range(C - 1, -1, -1):
                    n_c = min(L, T - c * L)
                    iv = np.array([L, blk, 0, c, c + 1, 1, shared, gtr_on, nf], dtype=np.int64)
                    bwd(*args, iv, *tail, buf.numpy(), (one,))
                    sh = buf[:n_c]
                    sg = cfg.surrogate.grad(sh, heaviside(sh)).to(dt).contiguous()
                    iv[5] = 0
                    bwd(*args, iv, *tail, sg.numpy() if n_c > 1 else sg.reshape(1, m).numpy(), (one,))
        dfields = list(lam[:F].view(F, *fshape).unbind(0))
        dparams = list(dprm.view(P, *fshape).unbind(0)) if need_params else []
        return dx.view(x.shape), dfields, dparams, lam[F].view(fshape)


DRIVER = NumbaDriver()
