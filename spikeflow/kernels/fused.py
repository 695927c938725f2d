"""One fused ``autograd.Function`` for every declared model, over pluggable drivers.

``FusedScan.apply(plan, x, *state_fields, *kernel_params)`` returns (output [T, B, ...],
*fields) where each field is its trace [T, B, ...] with ``record`` and its final value
[B, ...] without. The driver (``plan.driver``: numba on CPU, Triton on GPU) runs the
forward, keeping only the output and a checkpoint of the state every L steps, and the
backward, which recomputes each chunk of steps from its checkpoint and walks it backwards
through the model's ``row_vjp``. No per-step autograd graph is built.

Double backward (``create_graph=True``): the drivers' gradients are not differentiable, so
the backward then evaluates the same rows on tensors under autograd (``torch_scan``) and
differentiates that: same values, a graph that can be differentiated again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from ..dynamics.spec import ModelSpec
from ..dynamics.spiking import winner_mask
from .call import KernelCall, StaticConfig


def reduce_to(g: Tensor, shape: torch.Size) -> Tensor:
    """Sum a gradient [B, ...] down to a broadcast parameter's shape."""
    if len(shape) == 0:
        return g.sum()
    lead = g.dim() - len(shape)
    if lead > 0:
        g = g.sum(dim=tuple(range(lead)))
    dims = tuple(d for d, n in enumerate(shape) if n == 1 and g.shape[d] != 1)
    return g.sum(dim=dims, keepdim=True) if dims else g


def scale_graded(out: Tensor, graded: Any) -> Tensor:
    """out * graded, skipped when graded is a constant 1."""
    if isinstance(graded, Tensor):
        if not graded.requires_grad and graded.numel() == 1 and float(graded) == 1.0:
            return out
        return out * graded
    return out if graded == 1 else out * graded


def initial_reset(spec: ModelSpec, cfg: StaticConfig, fields: list[Tensor], kp: list[Tensor]) -> Tensor:
    """r entering step 0: the spike field of the state, else H(v0 - threshold) (0 when not spiking)."""
    if spec.spike_field is not None:
        return fields[spec.fields.index(spec.spike_field)]
    if not spec.spiking:
        return torch.zeros_like(fields[0])
    v0 = fields[spec.fields.index(spec.membrane)].detach()
    # v0 - thr > 0 exactly when v0 > thr; gt_ keeps the float dtype (a bool and .to() cost 4x more)
    return (v0 - kp[spec.kernel_params.index("threshold")].detach()).gt_(0)


def torch_scan(spec: ModelSpec, cfg: StaticConfig, x: Tensor, fields: list[Tensor], kp: list[Tensor]
               ) -> tuple[Tensor, list[Tensor]]:
    """The drivers' semantics evaluated on tensors with the model's rows, under autograd."""
    ss, sz, ds, dz = cfg.weights
    mi = spec.fields.index(spec.membrane)
    if spec.spike_field is None and spec.spiking and cfg.nd:
        r = cfg.surrogate(fields[mi] - kp[spec.kernel_params.index("threshold")])
    else:
        r = initial_reset(spec, cfg, fields, kp)
        r = r.detach() if cfg.detach else r
    outs, traces = [], []
    for xt in x.unbind(0):
        u, b, *carried = spec.row(xt, *fields, r, *kp, ds, dz, 1.0)
        new = dict(zip(spec.carried, carried, strict=True))
        if spec.spiking:
            s = cross = cfg.surrogate(u - b)
            if cfg.inhibition:  # only each sample's first largest u - b may spike
                s = cross * winner_mask((u - b).detach())
            sr = s.detach() if cfg.detach else s
            new[spec.membrane] = (u - ss * sr * b) * (1.0 - sz * sr) if spec.same_step_reset else u
            if spec.spike_field is not None:
                new[spec.spike_field] = s
            r, out = sr, s
            if cfg.inhibition and spec.spike_field is None:  # the delayed reset sees every crossing
                r = cross.detach() if cfg.detach else cross
        else:
            new[spec.membrane] = out = u
        fields = [new[f] for f in spec.fields]
        outs.append(out)
        traces.append(fields)
    if cfg.record:
        return torch.stack(outs), [torch.stack(f) for f in zip(*traces, strict=True)]
    return torch.stack(outs), fields


class Driver(Protocol):
    """Forward and backward of a scan on one device (see ``numba.driver`` and ``triton``)."""

    def forward(self, plan: "Plan", x: Tensor, fields: list[Tensor], kp: list[Tensor]
                ) -> tuple[Tensor, list[Tensor], Any]: ...

    def backward(self, plan: "Plan", saved: Any, x: Tensor, fields: list[Tensor], kp: list[Tensor],
                 gout: Tensor | None, gfields: list[Tensor | None], need_params: bool
                 ) -> tuple[Tensor, list[Tensor], list[Tensor], Tensor]: ...


@dataclass(frozen=True)
class Plan:
    """What a FusedScan needs besides tensors: the model, its static options, the driver."""

    spec: ModelSpec
    cfg: StaticConfig
    driver: Driver
    check_finite: bool = False  # the driver raises NonFiniteInput when x holds NaN or inf


class NonFiniteInput(Exception):
    """Raised by a driver that found NaN or inf in its x (``Plan.check_finite``)."""


class FusedScan(torch.autograd.Function):
    """(x, *state fields, *kernel params) -> (output, *fields): traces with record, else finals."""

    @staticmethod
    def forward(ctx, plan: Plan, x: Tensor, *tensors: Tensor):  # type: ignore[override]
        F = len(plan.spec.fields)
        fields, kp = list(tensors[:F]), list(tensors[F:])
        out, fout, saved = plan.driver.forward(plan, x, fields, kp)
        ctx.plan, ctx.saved = plan, saved
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, *tensors)
        return (out, *fout)

    @staticmethod
    def backward(ctx, gout: Tensor | None, *gfields: Tensor | None):  # type: ignore[override]
        plan: Plan = ctx.plan
        spec, F = plan.spec, len(plan.spec.fields)
        x, *tensors = ctx.saved_tensors
        fields, kp = list(tensors[:F]), list(tensors[F:])
        need = ctx.needs_input_grad[1:]
        if torch.is_grad_enabled():  # create_graph: differentiate the rows on tensors instead
            ins = [t for t, n in zip((x, *tensors), need, strict=True) if n]
            out, fo = torch_scan(spec, plan.cfg, x, fields, kp)
            outs = [(o, g) for o, g in zip((out, *fo), (gout, *gfields), strict=True) if g is not None]
            got = torch.autograd.grad([o for o, _ in outs], ins, [g for _, g in outs], create_graph=True,
                                      allow_unused=True)
            it = iter(got)
            res = [next(it) if n else None for n in need]
            return (None, *(torch.zeros_like(t) if g is None and n else g
                            for g, n, t in zip(res, need, (x, *tensors), strict=True)))
        dx, dfields, dparams, lam_r = plan.driver.backward(
            plan, ctx.saved, x, fields, kp, gout, list(gfields), any(need[1 + F:])
        )
        fshape = x.shape[1:]
        if spec.spike_field is not None:  # r0 is the spike field itself
            zi = spec.fields.index(spec.spike_field)
            dfields[zi] = dfields[zi] + lam_r
        elif spec.spiking and plan.cfg.nd:  # r0 = H(v0 - thr) with the surrogate derivative
            v0 = fields[spec.fields.index(spec.membrane)].detach().expand(fshape)
            ti = spec.kernel_params.index("threshold")
            shifted = v0 - kp[ti].detach()
            g0 = lam_r * plan.cfg.surrogate.grad(shifted, (shifted > 0).to(shifted.dtype))
            mi = spec.fields.index(spec.membrane)
            dfields[mi] = dfields[mi] + g0
            if dparams:
                dparams[ti] = dparams[ti] - g0
        grads: list[Tensor | None] = [dx if need[0] else None]
        grads += [reduce_to(g, t.shape) if n else None for g, t, n in zip(dfields, fields, need[1:1 + F], strict=True)]
        grads += [reduce_to(dparams[i], t.shape) if n else None for i, (t, n) in enumerate(zip(kp, need[1 + F:],
                                                                                               strict=True))]
        return (None, *grads)


def run_scan(call: KernelCall, driver: Driver) -> tuple[Tensor, Any]:
    """Run ``call`` through FusedScan with ``driver``; returns what ``kernels.run`` returns."""
    spec = call.spec
    assert spec is not None and spec.fusable
    x, kp = spec.kernel_inputs(call.x, call.params)
    fields = [torch.as_tensor(f, dtype=x.dtype, device=x.device) for f in call.state]
    try:
        out, *fo = FusedScan.apply(Plan(spec, call.static, driver, call.check_finite), x, *fields, *kp)
    except NonFiniteInput:
        from ..neurons.checks import scan_finite

        scan_finite("x", call.x)  # the error names the caller's x; finite there: the model's own
        out, *fo = FusedScan.apply(Plan(spec, call.static, driver), x, *fields, *kp)  # transform overflowed
    if spec.spiking:
        out = scale_graded(out, call.params["graded"])
    return out, spec.state(*fo)


def flat_rows(tensors: list[Tensor], fshape: torch.Size, m: int, dtype: torch.dtype,
              device: torch.device | str = "cpu") -> Tensor:
    """Scalars / per-neuron / per-sample tensors broadcast to [len, M] (on CPU through numpy: a
    broadcast row copy costs ~1 us there against torch's ~5 us, several per layer call)."""
    out = torch.empty((len(tensors), m), dtype=dtype, device=device)
    cpu = out.device.type == "cpu"
    rows = out.numpy().reshape(len(tensors), *fshape) if cpu else out.view(len(tensors), *fshape)
    for i, t in enumerate(tensors):
        rows[i] = t.detach().numpy() if cpu else t.detach()
    return out


def incoming(plan: Plan, gout: Tensor | None, gfields: list[Tensor | None], x: Tensor
             ) -> tuple[Tensor, int, Tensor, Tensor, bool]:
    """The backward's incoming gradients as drivers read them: gs [T, M] (or [1, M] with
    shared = 1 when it is the same at every step, e.g. a loss on spike counts), lam [F + 1, M]
    (the final state's gradients; row F: the reset signal's), gtr [F, T, M] (the traces')
    or [F, 1, M] zeros, and whether gtr holds anything."""
    T, _, m = numel_steps(x)
    F, dt, dev = len(plan.spec.fields), x.dtype, x.device
    shared = 1
    if gout is None:
        gs = torch.zeros((1, m), dtype=dt, device=dev)
    else:
        gs = gout.detach().reshape(T, m)
        if T > 1 and gs.stride(0) == 0:
            gs = gs[:1]
        else:
            shared = 0
        gs = gs.contiguous()
    lam = torch.zeros((F + 1, m), dtype=dt, device=dev)
    has_gtr = plan.cfg.record and any(g is not None for g in gfields)
    gtr = torch.zeros((F, T if has_gtr else 1, m), dtype=dt, device=dev)
    for i, g in enumerate(gfields):
        if g is not None and plan.cfg.record:
            gtr[i] = g.detach().reshape(T, m)
        elif g is not None:
            lam[i] = g.detach().reshape(m)
    return gs, shared, lam, gtr, has_gtr


def numel_steps(x: Tensor) -> tuple[int, torch.Size, int]:
    return x.shape[0], x.shape[1:], math.prod(x.shape[1:])
