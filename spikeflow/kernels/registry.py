"""The kernel classes and their one flat priority list.

A kernel declares what it runs as data (BACKEND, MODELS, DEVICES, DTYPES, option flags);
``not_supported_reasons`` turns those declarations (plus any check of its own) into the list
of reasons it refuses a call.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..dynamics.spec import MODELS
from . import reference
from .call import KernelCall

_FLOATS = frozenset({torch.float32, torch.float64})


class NoKernelError(ValueError):
    """No kernel of the requested backend runs the call; the message lists every reason."""


def _numba_missing() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numba is not installed"
    return None


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
    DOUBLE_BACKWARD: ClassVar[str] = "native"  # "native" | "rows" (recomputed on tensors from the rows)

    def models(self) -> frozenset[str]:
        if self.MODELS is not None:
            return self.MODELS
        return frozenset(n for n, s in MODELS.items() if s.fusable or not self.FUSED_ROWS)

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
    """Every model with declared rows, compiled from them (``kernels.numba``)."""

    NAME, BACKEND = "numba_scan", "cpu"
    DEVICES, DTYPES = frozenset({"cpu"}), _FLOATS
    FUSED_ROWS = True
    DOUBLE_BACKWARD = "rows"

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = super().not_supported_reasons(call)
        if (missing := _numba_missing()) is not None:
            reasons.append(missing)
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from .fused import run_scan
        from .numba.driver import DRIVER

        return run_scan(call, DRIVER)


class NumbaWTA(Kernel):
    """Winner-take-all coupling of a sample's neurons (leaky, lapicque, synaptic)."""

    NAME, BACKEND = "numba_wta", "cpu"
    MODELS = frozenset({"leaky", "lapicque", "synaptic"})
    DEVICES, DTYPES = frozenset({"cpu"}), _FLOATS
    INHIBITION = True
    DOUBLE_BACKWARD = "none"

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = super().not_supported_reasons(call)
        if (missing := _numba_missing()) is not None:
            reasons.append(missing)
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from . import cpu_inhibition

        return cpu_inhibition.run(call.model, call.x, call.state, call.params, call.opts, call.record)


class NumbaRecurrent(Kernel):
    """Recurrent Leaky / Synaptic: one-to-one feedback or an all-to-all GEMM per step."""

    NAME, BACKEND = "numba_recurrent", "cpu"
    MODELS = frozenset({"rleaky", "rsynaptic"})
    DEVICES, DTYPES = frozenset({"cpu"}), _FLOATS
    DOUBLE_BACKWARD = "none"

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = super().not_supported_reasons(call)
        if (missing := _numba_missing()) is not None:
            reasons.append(missing)
        if not reasons and call.params:
            from .cpu_recurrent import unfusable_reasons

            reasons += unfusable_reasons(call.model, call.x, tuple(call.state), call.params)
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from . import cpu_recurrent

        return cpu_recurrent.run(call.model, call.x, call.state, call.params, call.opts, call.record)


class TritonScan(Kernel):
    """CUDA tensors, or CPU tensors under TRITON_INTERPRET=1 (tests)."""

    NAME, BACKEND = "triton_scan", "triton"
    MODELS = frozenset({"leaky", "lapicque", "synaptic", "li", "cuba_li", "alpha", "adaptive"})
    DTYPES = _FLOATS
    DOUBLE_BACKWARD = "none"

    def not_supported_reasons(self, call: KernelCall) -> list[str]:
        reasons = super().not_supported_reasons(call)
        from . import triton_lif

        if not triton_lif._triton_importable():
            return [*reasons, "triton is not installed"]
        x = call.x
        if not x.is_cuda:
            if x.device.type != "cpu" or os.environ.get("TRITON_INTERPRET") != "1":
                reasons.append(f"device {x.device.type!r}: needs CUDA (or CPU under TRITON_INTERPRET=1)")
            elif not triton_lif._interpreted():
                reasons.append("the triton kernels were loaded without TRITON_INTERPRET=1")
        return reasons

    def run(self, call: KernelCall) -> tuple[Tensor, Any]:
        from . import triton_lif

        return triton_lif.run(call.model, call.x, call.state, call.params, call.opts, call.record)


# the one flat priority list: auto takes the first kernel with no reasons
KERNELS: list[Kernel] = [TritonScan(), NumbaWTA(), NumbaRecurrent(), NumbaScan(), Reference()]


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
