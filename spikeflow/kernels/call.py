"""The call object every kernel receives, and its static configuration (derived in one place)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..dynamics.options import SpikeOptions
from ..dynamics.spec import MODELS, ModelSpec

RESET_CODE = {"none": 0, "subtract": 1, "zero": 2}


class StaticConfig(NamedTuple):
    """Options of a call as the drivers use them.

    reset: code of RESET_CODE; delayed: the reset is applied in the next step; detach: the
    reset carries no gradient; weights (ss, sz, ds, dz): 0/1 weights of the same-step subtract /
    zero and delayed subtract / zero resets as the rows and drivers apply them.
    """

    reset: int
    delayed: bool
    detach: bool
    record: bool
    inhibition: bool
    surrogate: Any
    weights: tuple[float, float, float, float]

    @property
    def nd(self) -> float:
        return 0.0 if self.detach else 1.0


@dataclass(frozen=True, eq=False)
class KernelCall:
    """One run of ``model`` over x [T, B, ...] from ``state`` with ``params`` and ``opts``."""

    model: str
    x: Tensor
    state: NamedTuple
    params: dict[str, Any]
    opts: SpikeOptions | None
    record: bool = False
    check_finite: bool = False  # raise a ValueError when x holds NaN or inf

    @property
    def spec(self) -> ModelSpec | None:
        return MODELS.get(self.model)

    @cached_property
    def static(self) -> StaticConfig:
        spec, o = self.spec, self.opts
        if o is None or spec is None or not spec.spiking:
            return StaticConfig(0, True, True, self.record, False, None, (0.0, 0.0, 0.0, 0.0))
        code = RESET_CODE[o.reset]
        same = code != 0 and not o.reset_delay and spec.same_step_reset
        late = code != 0 and o.reset_delay
        w = (float(same and code == 1), float(same and code == 2), float(late and code == 1), float(late and code == 2))
        return StaticConfig(code, o.reset_delay, o.detach, self.record, o.inhibition, o.surrogate, w)

    @property
    def requires_grad(self) -> bool:
        tensors = [self.x, *self.state, *(p for p in self.params.values() if isinstance(p, Tensor))]
        return torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)
