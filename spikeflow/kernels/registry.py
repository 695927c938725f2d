"""The kernel classes and their one flat priority list.

A kernel declares what it runs as data (BACKEND, MODELS, DEVICES, DTYPES, option flags);
``not_supported_reasons`` turns those declarations (plus any check of its own) into the list
of reasons it refuses a call.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..dynamics.spec import MODELS
from . import reference
from .call import KernelCall

_FLOATS = frozenset({torch.float32, torch.float64})


@functools.cache
def installed(package: str) -> bool:
    """Whether ``package`` can be imported (looked up once per process: every call asks)."""
    return importlib.util.find_spec(package) is not None


class NoKernelError(ValueError):
    """No kernel of the requested backend runs the call; the message lists every reason."""


class Kernel:
    """Base: declarations checked generically; subclasses add their own reasons and ``run``."""

    NAME: ClassVar[str]
    BACKEND: ClassVar[str]
    MODELS: ClassVar[frozenset[str] | None] = None  # None: every registered model
    DEVICES: ClassVar[frozenset[str] | None] = None  # None: every device
    DTYPES: ClassVar[frozenset[torch.dtype] | None] = None
    INHIBITION: ClassVar[bool | None] = False  # True: only winner-take-all calls; None: both
    UNDER_COMPILE: ClassVar[bool] = False  # runs while torch.compile traces
    FUSED_ROWS: ClassVar[bool] = False  # needs the model's declared rows
    DOUBLE_BACKWARD: ClassVar[str] = "native"  # "native" | "rows" (recomputed on tensors from the rows) | "none"
    NEEDS_NUMBA: ClassVar[bool] = False
    SCANS_INPUT: ClassVar[bool] = False  # checks x for NaN / inf itself while reading it (call.check_finite)

    def models(self) -> frozenset[str]:
        if self.MODELS is not None:
            return self.MODELS
        key = tuple(MODELS.values())
        cached = self.__dict__.get("_models")
        if cached is None or cached[0] != key:  # a model registered since: derive again
            cached = key, frozenset(n for n, s in MODELS.items() if s.fusable or not self.FUSED_ROWS)
            self.__dict__["_models"] = cached
        return cached[1]

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = []
        if call.model not in self.models():
            reasons.append(f"model {call.model!r} is not one of {sorted(self.models())}")
        x = call.x
        if self.DEVICES is not None and x.device.type not in self.DEVICES:
            reasons.append(f"device {x.device.type!r} is not one of {sorted(self.DEVICES)}")
        if self.DTYPES is not None and x.dtype not in self.DTYPES:
            reasons.append(f"dtype {x.dtype} is not one of {sorted(str(d) for d in self.DTYPES)}")
        inhib = bool(call.opts is not None and call.opts.inhibition)
        if self.INHIBITION is not None and inhib != self.INHIBITION:
            reasons.append("winner-take-all inhibition is " + ("required" if self.INHIBITION else "not supported"))
        if not self.UNDER_COMPILE and torch.compiler.is_compiling():
            reasons.append("torch.compile is tracing (compiled kernels cannot be traced)")
        if self.NEEDS_NUMBA and not installed("numba"):
            reasons.append("numba is not installed")
        if self.BACKEND != "reference" and call.opts is not None and getattr(call.opts, "state_quant", None):
            reasons.append("state quantization (opts.state_quant) rounds the membrane inside each step; only the "
                           "reference step does")
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<kernel {self.NAME} ({self.BACKEND})>"


class Reference(Kernel):
    NAME, BACKEND = "reference", "reference"
    INHIBITION = None
    UNDER_COMPILE = True

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        return reference.run(call.model, call.x, call.state, call.params, call.opts, call.record)


class NumbaScan(Kernel):
    """Every model with declared rows, compiled from them (``kernels.numba``); winner-take-all
    inhibition is a variant of the same generated driver."""

    NAME, BACKEND = "numba_scan", "cpu"
    INHIBITION = None
    DEVICES, DTYPES, NEEDS_NUMBA = frozenset({"cpu"}), _FLOATS, True
    FUSED_ROWS = True
    DOUBLE_BACKWARD = "rows"
    SCANS_INPUT = True

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from .fused import run_scan
        from .numba.driver import DRIVER

        return run_scan(call, DRIVER)


class NumbaRecurrent(Kernel):
    """Recurrent Leaky / Synaptic: one-to-one feedback or an all-to-all GEMM per step."""

    NAME, BACKEND = "numba_recurrent", "cpu"
    MODELS = frozenset({"rleaky", "rsynaptic"})
    DEVICES, DTYPES, NEEDS_NUMBA = frozenset({"cpu"}), _FLOATS, True
    DOUBLE_BACKWARD = "none"

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = super().not_supported_reasons(call)
        if not reasons and call.params:
            from .cpu_recurrent import unfusable_reasons

            reasons += unfusable_reasons(call.model, call.x, tuple(call.state), call.params)
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from . import cpu_recurrent

        return cpu_recurrent.run(call.model, call.x, call.state, call.params, call.opts, call.record)


class TritonScan(Kernel):
    """Every model with declared rows on CUDA tensors (CPU tensors under TRITON_INTERPRET=1, for tests)."""

    NAME, BACKEND = "triton_scan", "triton"
    DTYPES = _FLOATS
    FUSED_ROWS = True
    DOUBLE_BACKWARD = "rows"

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = super().not_supported_reasons(call)
        if not installed("triton"):
            return [*reasons, "triton is not installed"]
        x = call.x
        if not x.is_cuda and (x.device.type != "cpu" or os.environ.get("TRITON_INTERPRET") != "1"):
            reasons.append(f"device {x.device.type!r}: needs CUDA (or CPU tensors under TRITON_INTERPRET=1)")
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from .fused import run_scan
        from .triton.driver import DRIVER

        return run_scan(call, DRIVER)


# the one flat priority list: auto takes the first kernel with no reasons
KERNELS: list[Kernel] = [TritonScan(), NumbaRecurrent(), NumbaScan(), Reference()]


class _RouteDoubleBackward(torch.autograd.Function):
    """Runs a kernel without a differentiable backward; a backward with create_graph=True is
    recomputed by the first kernel (in KERNELS order) that declares one (the reference)."""

    @staticmethod
    def forward(ctx, kernel: Kernel, call: KernelCall, keys: tuple[str, ...], *leaves: Tensor):  # type: ignore[override]
        inner = [t.detach().requires_grad_(t.requires_grad) for t in leaves]
        with torch.enable_grad():
            out, st = kernel.run(_rebuild(call, keys, inner))
        ctx.call, ctx.keys, ctx.inner, ctx.outs = call, keys, inner, (out, *st)
        ctx.leaves = leaves  # referenced, not saved: they are alive anyway, and the fused kernel saved what it needs
        return (out.detach(), *(f.detach() for f in st))

    @staticmethod
    def backward(ctx, *grads: Tensor | None):  # type: ignore[override]
        if torch.is_grad_enabled():  # create_graph: a kernel whose backward is differentiable
            leaves = ctx.leaves
            call = _rebuild(ctx.call, ctx.keys, list(leaves))
            k = next(k for k in KERNELS if k.DOUBLE_BACKWARD != "none" and not k.not_supported_reasons(call))
            out, st = k.run(call)
            outs, wrt = (out, *st), leaves
        else:
            outs, wrt = ctx.outs, ctx.inner
        pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None and o.requires_grad]
        idx = [i for i, t in enumerate(wrt) if t.requires_grad]
        got = torch.autograd.grad([o for o, _ in pairs], [wrt[i] for i in idx], [g for _, g in pairs],
                                  allow_unused=True, create_graph=torch.is_grad_enabled(), retain_graph=True
                                  ) if pairs and idx else []
        res: list[Tensor | None] = [None] * len(wrt)
        for i, g in zip(idx, got, strict=True):
            res[i] = g
        return (None, None, None, *res)


def _rebuild(call: KernelCall, keys: tuple[str, ...], leaves: list[Tensor]) -> KernelCall:
    n = 1 + len(call.state)
    params = {**call.params, **dict(zip(keys, leaves[n:], strict=True))}
    return KernelCall(call.model, leaves[0], type(call.state)(*leaves[1:n]), params, call.opts, call.record)


def run(kernel: Kernel, call: KernelCall) -> tuple[Tensor, Any]:
    """``kernel.run(call)``; a kernel without a differentiable backward is wrapped so that a
    later ``create_graph=True`` backward is routed to one that has it (decided here)."""
    if kernel.DOUBLE_BACKWARD != "none" or not call.requires_grad:
        return kernel.run(call)
    keys = tuple(k for k, v in call.params.items() if isinstance(v, Tensor))
    leaves = [call.x, *call.state, *(call.params[k] for k in keys)]
    out, *fields = _RouteDoubleBackward.apply(kernel, call, keys, *leaves)
    return out, type(call.state)(*fields)


def select(call: KernelCall, backend: str = "auto") -> Kernel:
    """The kernel that runs ``call``: the first of ``backend`` (any with "auto") without reasons."""
    tried = [k for k in KERNELS if backend in ("auto", k.BACKEND)]
    refusals = []
    for k in tried:
        reasons = k.not_supported_reasons(call)
        if not reasons:
            return k
        refusals.append(f"  {k.NAME}: " + "; ".join(reasons))
    raise NoKernelError(
        f"backend {backend!r} cannot run model {call.model!r} (dtype {call.x.dtype}, device {call.x.device}, "
        f"options {call.opts}):\n" + "\n".join(refusals) + "\nuse backend='auto' or 'reference'"
    )
