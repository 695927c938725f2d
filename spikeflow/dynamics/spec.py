"""``ModelSpec``: everything the kernels need to know about one neuron model, declared once.

A model module (``spikeflow/dynamics/<family>.py``) writes:
  * its state type (a NamedTuple) and the names of its parameters;
  * ``step(x, state, opts, **params) -> (output, state)`` in torch: the reference;
  * ``row`` and ``row_vjp``: one neuron's update and its adjoint, plain branch-free
    arithmetic on scalars in the reference's operation order (numba compiles them into the
    CPU drivers, Triton into the GPU drivers, torch evaluates them for double backward).

Row contract (F = state fields, C = carried fields: the state fields other than
``membrane`` and ``spike_field``; P = ``kernel_params``):

    row(x, *state_prev[F], r, *params[P], ds, dz, one) -> (u, b, *carried_new[C])
    row_vjp(du, db, *d_carried_new[C], x, *state_prev[F], r, *params[P], ds, dz, one)
        -> (dx, *d_state_prev[F], dr, *d_params[P])

u is the new membrane before any same-step reset, b the effective threshold (the spike is
H(u - b)), r the previous step's spike (the delayed reset signal; r0 = H(v0 - threshold) or the
``spike_field`` of the initial state), ds / dz the 0/1 weights of a delayed subtract / zero
reset (0 when the reset is not delayed), ``one`` the constant 1 in the data's precision.
The drivers own the rest: firing, the same-step reset v = (u - ss s b)(1 - sz s), detach,
surrogate, graded output, traces, chunking and checkpoints, threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

Prepare = Callable[[Tensor, dict[str, Any]], tuple[Tensor, dict[str, Tensor]]]


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """Declaration of one neuron model (see the module docstring for the row contract)."""

    name: str
    state: type  # NamedTuple of the model's state
    params: tuple[str, ...]  # keys of the params dict a neuron module passes
    step: Callable[..., tuple[Tensor, Any]]  # step(x, state, opts, **params), torch reference
    row: Callable[..., Any] | None = None
    row_vjp: Callable[..., Any] | None = None
    kernel_params: tuple[str, ...] = ()  # per-neuron scalars the row takes, after ``prepare``
    prepare: Prepare | None = None  # (x, params) -> (x, kernel params), in torch (differentiable)
    spiking: bool = True  # False: no firing; the output is the membrane
    same_step_reset: bool = True  # the driver resets the membrane in the step of the spike
    delayed_reset: bool = True  # the row implements the delayed reset
    membrane: str = "v"
    spike_field: str | None = None  # state field that holds the last spike (e.g. ALIF's z)
    notes: dict[str, str] = field(default_factory=dict)  # option -> why a fused kernel refuses it

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.state._fields)

    @property
    def carried(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f not in (self.membrane, self.spike_field))

    @property
    def fusable(self) -> bool:
        return self.row is not None and self.row_vjp is not None

    def kernel_inputs(self, x: Tensor, params: dict[str, Any]) -> tuple[Tensor, list[Tensor]]:
        """x and the kernel parameters (tensors in x's dtype), through ``prepare`` if any."""
        if self.prepare is not None:
            x, kp = self.prepare(x, params)
        else:
            kp = {k: params[k] for k in self.kernel_params}
        return x, [torch.as_tensor(kp[k], dtype=x.dtype, device=x.device) for k in self.kernel_params]


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Make ``spec`` known to the kernels, the neuron modules and the conformance suite."""
    if spec.fusable and spec.spiking and "threshold" not in spec.kernel_params and spec.spike_field is None:
        raise ValueError(f"{spec.name}: a spiking row needs a 'threshold' kernel parameter or a spike_field")
    MODELS[spec.name] = spec
    return spec
