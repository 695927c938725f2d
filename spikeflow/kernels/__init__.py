"""Multi-step backends for the neuron recurrences, behind one interface.

A backend is a module with
    supports(model, x, opts) -> bool
    run(model, x, state, params, opts, record) -> (outputs [T, B, ...], final state or trace)
``reference`` (plain torch under autograd) is always present and is the oracle for tests;
``cpu`` (numba, hand-written backward through time) runs the LIF family on CPU tensors;
``triton`` runs them on CUDA tensors (and on CPU tensors under ``TRITON_INTERPRET=1``, for tests).
``backend="auto"`` picks the first available backend in ``AUTO_ORDER`` that supports the call.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

from torch import Tensor

from ..functional.options import SpikeOptions
from . import cpu, reference, triton_lif

BACKENDS: dict[str, ModuleType] = {"reference": reference, "cpu": cpu, "triton": triton_lif}
# auto: the fused kernels first (each declines what it does not support), then reference
AUTO_ORDER: list[str] = ["triton", "cpu", "reference"]
_default_backend = "auto"


def register_backend(name: str, module: ModuleType, priority: int | None = None) -> None:
    """Make a backend available; ``priority`` is its place in the auto order (0 = first)."""
    BACKENDS[name] = module
    if name in AUTO_ORDER:
        AUTO_ORDER.remove(name)
    AUTO_ORDER.insert(len(AUTO_ORDER) if priority is None else priority, name)


def available_backends() -> list[str]:
    return ["auto", *BACKENDS]


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
    """Name of the backend that will run this call."""
    name = _default_backend if name is None else name
    if name != "auto":
        backend = BACKENDS[check_backend(name)]
        if not backend.supports(model, x, opts):
            raise ValueError(
                f"backend {name!r} does not support model {model!r} with dtype {x.dtype}, "
                f"device {x.device} and options {opts}; use backend='auto' or 'reference'"
            )
        return name
    for candidate in AUTO_ORDER:
        if BACKENDS[candidate].supports(model, x, opts):
            return candidate
    return "reference"


def run(
    model: str,
    x: Tensor,
    state: NamedTuple,
    params: dict[str, Any],
    opts: SpikeOptions | None,
    record: bool = False,
    backend: str | None = None,
) -> tuple[Tensor, NamedTuple]:
    """Run neuron ``model`` over x [T, B, ...] starting from ``state``.

    Returns (outputs [T, B, ...], final state), or (outputs, trace) with ``record`` where each
    state field is stacked over time to [T, B, ...].
    """
    name = resolve(backend, model, x, opts)
    return BACKENDS[name].run(model, x, state, params, opts, record)
