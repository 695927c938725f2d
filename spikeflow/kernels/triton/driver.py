"""The Triton driver of ``FusedScan`` (CUDA tensors; CPU tensors under TRITON_INTERPRET=1).

Same saved data and chunked backward as the numba driver; one program per BLOCK neurons;
launched without fused multiply-add so that results equal the reference bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..fused import Plan, flat_rows, incoming, initial_reset, numel_steps
from .codegen import drivers

GPU_BLOCK, GPU_WARPS = 128, 4  # neurons per program on the GPU: many programs, one neuron per thread
INTERPRET_BLOCK = 4096  # the interpreter runs a program as numpy ops: fewer, larger programs
STEPS = 64  # steps per checkpoint


def _formula(sur: Any) -> tuple[Any, tuple[float, ...]] | None:
    f = sur.kernel_formula() if sur is not None and hasattr(sur, "kernel_formula") else None
    return None if f is None else (f[0], tuple(f[1]))


def _launch(kernel: Any, m: int, device: torch.device, *args: Any, **flags: Any) -> None:
    block = GPU_BLOCK if device.type == "cuda" else min(INTERPRET_BLOCK, max(16, 1 << (m - 1).bit_length()))
    kernel[(max(1, math.ceil(m / block)),)](*args, **flags, BLOCK=block, num_warps=GPU_WARPS, enable_fp_fusion=False)


class TritonDriver:
    """Forward / backward of FusedScan with the generated Triton kernels."""

    def forward(self, plan: Plan, x: Tensor, fields: list[Tensor], kp: list[Tensor]
                ) -> tuple[Tensor, list[Tensor], Any]:
        spec, cfg = plan.spec, plan.cfg
        T, fshape, m = numel_steps(x)
        F, dt, dev = len(spec.fields), x.dtype, x.device
        xs = x.detach().reshape(T, m).contiguous()
        st0 = flat_rows([*fields, initial_reset(spec, cfg, fields, kp)], fshape, m, dt, device=dev)
        prm = flat_rows(kp, fshape, m, dt, device=dev)
        L = min(STEPS, max(1, T))
        s = torch.empty((T, m), dtype=dt, device=dev)
        trc = torch.empty((F, T, m) if cfg.record else (1,), dtype=dt, device=dev)
        ckpt = torch.empty(((T + L - 1) // L, F + 1, m), dtype=dt, device=dev)
        fin = torch.empty((F, m), dtype=dt, device=dev)
        ss, sz, ds, dz = cfg.weights
        _launch(drivers(spec, None, 0).forward, m, dev, xs, st0, prm, s, trc, ckpt, fin, T, m, L, ss, sz, ds, dz,
                RECORD=cfg.record)
        outs = [trc[i].view(x.shape) for i in range(F)] if cfg.record else [fin[i].view(fshape) for i in range(F)]
        return s.view(x.shape), outs, (ckpt, L)

    def backward(self, plan: Plan, saved: Any, x: Tensor, fields: list[Tensor], kp: list[Tensor],
                 gout: Tensor | None, gfields: list[Tensor | None], need_params: bool
                 ) -> tuple[Tensor, list[Tensor], list[Tensor], Tensor]:
        spec, cfg = plan.spec, plan.cfg
        ckpt, L = saved
        T, fshape, m = numel_steps(x)
        F, P, dt, dev = len(spec.fields), len(spec.kernel_params), x.dtype, x.device
        xs = x.detach().reshape(T, m).contiguous()
        prm = flat_rows(kp, fshape, m, dt, device=dev)
        gs, shared, lam, gtr, has_gtr = incoming(plan, gout, gfields, x)
        gs_t = 1 - shared
        dprm = torch.zeros((P, m), dtype=dt, device=dev)
        dx = torch.empty((T, m), dtype=dt, device=dev)
        sc = torch.empty((L, 3 + F, m), dtype=dt, device=dev)
        formula = _formula(cfg.surrogate) if spec.spiking else None
        C = ckpt.shape[0]
        ss, sz, ds, dz = cfg.weights
        mod = drivers(spec, None if formula is None else formula[0], 0 if formula is None else len(formula[1]))
        head = (xs, ckpt, prm, gs, gtr, lam, dprm, dx)
        flags = dict(HAS_GTR=has_gtr)
        if formula is not None or not spec.spiking:
            consts = torch.tensor(formula[1] if formula is not None else [1.0], dtype=dt, device=dev)
            # dx stands in for the unused sg array (in bounds: it is [T, M])
            _launch(mod.backward, m, dev, *head, dx, sc, consts, T, m, L, 0, C, 0, gs_t, ss, sz, ds, dz, cfg.nd,
                    **flags)
        else:  # surrogate without a formula: u - b of a chunk, its sg in torch, then the chunk's backward
            buf = torch.empty((L, m), dtype=dt, device=dev)
            one = torch.ones(1, dtype=dt, device=dev)
            for c in range(C - 1, -1, -1):
                n_c = min(L, T - c * L)
                _launch(mod.backward, m, dev, *head, buf, sc, one, T, m, L, c, c + 1, 1, gs_t, ss, sz, ds, dz,
                        cfg.nd, **flags)
                sh = buf[:n_c]
                sg = cfg.surrogate.grad(sh, (sh > 0).to(dt)).to(dt).contiguous()
                _launch(mod.backward, m, dev, *head, sg, sc, one, T, m, L, c, c + 1, 0, gs_t, ss, sz, ds, dz,
                        cfg.nd, **flags)
        dfields = [lam[i].view(fshape) for i in range(F)]
        dparams = [dprm[i].view(fshape) for i in range(P)] if need_params else []
        return dx.view(x.shape), dfields, dparams, lam[F].view(fshape)


DRIVER = TritonDriver()
