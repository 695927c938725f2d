"""Kernels for the neuron recurrences: a declarative registry (xFormers' op-registry style).

Each kernel class states the models, devices, dtypes and options it runs, and
``not_supported_reasons(call)`` says why it refuses a call. ``backend="auto"`` takes the first
kernel of ``KERNELS`` (one flat priority list) with no reasons; an explicit backend takes its
first kernel with no reasons, or raises an error that lists every reason. Nothing falls back
silently. Backends (user-facing names): ``reference`` (torch steps under autograd, the oracle),
``cpu`` (numba drivers compiled from each model's rows), ``triton`` (CUDA, or CPU under
``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from ..dynamics.options import SpikeOptions
from .call import KernelCall, StaticConfig
from .registry import KERNELS, Kernel, NoKernelError, select
from .registry import run as _run_kernel

__all__ = [
    "KERNELS", "Kernel", "KernelCall", "NoKernelError", "StaticConfig", "available_backends", "check_backend",
    "get_default_backend", "resolve", "run", "select", "set_default_backend",
]

_default_backend = "auto"


def available_backends() -> list[str]:
    names: list[str] = []
    for k in KERNELS:
        if k.BACKEND not in names:
            names.append(k.BACKEND)
    return ["auto", *names]


def check_backend(name: str) -> str:
    if not isinstance(name, str) or name not in available_backends():
        raise ValueError(f"backend: expected one of {available_backends()}, got {name!r}")
    return name


def set_default_backend(name: str) -> None:
    """Set the backend used by neuron modules created with ``backend=None``."""
    global _default_backend
    _default_backend = check_backend(name)


def get_default_backend() -> str:
    return _default_backend


def resolve(name: str | None, model: str, x: Tensor, opts: SpikeOptions | None) -> str:
    """Name of the backend that will run this call (state and parameters are not inspected)."""
    call = KernelCall(model, x, (), {}, opts, False)
    return select(call, check_backend(_default_backend if name is None else name)).BACKEND


def run(
    model: str,
    x: Tensor,
    state: NamedTuple,
    params: dict[str, Any],
    opts: SpikeOptions | None,
    record: bool = False,
    backend: str | None = None,
    check_finite: bool = False,
) -> tuple[Tensor, NamedTuple]:
    """Run neuron ``model`` over x [T, B, ...] starting from ``state``.

    Returns (outputs [T, B, ...], final state), or (outputs, trace) with ``record`` where each
    state field is stacked over time to [T, B, ...].
    ``check_finite``: a NaN or inf in x raises a ValueError (a kernel with ``SCANS_INPUT`` finds it
    while it reads x; for the others x is scanned first).
    """
    call = KernelCall(model, x, state, params, opts, record, check_finite)
    kernel = select(call, check_backend(_default_backend if backend is None else backend))
    if check_finite and not kernel.SCANS_INPUT:
        from ..neurons.checks import scan_finite

        scan_finite("x", x)
    return _run_kernel(kernel, call)
