"""Non-spiking leaky integrator readout."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..functional.states import LeakyState, SynapticState
from . import checks
from .base import NeuronBase, ParamLike, clamp01, decay_from


class LI(NeuronBase):
    """Leaky integrator without spikes, for readouts; outputs the membrane.

        v[t] = beta v[t-1] + x[t]                              (alpha and tau_syn not given)
        i[t] = alpha i[t-1] + x[t],  v[t] = beta v[t-1] + i[t]  (with a synaptic current)

    State: LeakyState(v), or SynapticState(i, v) with a synaptic current.
    """

    is_stateful = True

    def __init__(
        self,
        beta: ParamLike | None = None,
        alpha: ParamLike | None = None,
        *,
        tau_mem: ParamLike | None = None,
        tau_syn: ParamLike | None = None,
        dt: float = 1.0,
        learn_beta: bool = False,
        learn_alpha: bool = False,
        backend: str | None = None,
    ) -> None:
        super().__init__(backend)
        self._register("beta", decay_from("beta", beta, tau_mem, dt, "tau_mem"), learn_beta)
        self.has_current = alpha is not None or tau_syn is not None
        if self.has_current:
            self._register("alpha", decay_from("alpha", alpha, tau_syn, dt, "tau_syn"), learn_alpha)
        elif checks.check_bool("learn_alpha", learn_alpha):
            raise ValueError("learn_alpha: LI has no synaptic current unless alpha or tau_syn is given")

    @property
    def model(self) -> str:  # type: ignore[override]
        return "cuba_li" if self.has_current else "li"

    @property
    def state_type(self) -> type:  # type: ignore[override]
        return SynapticState if self.has_current else LeakyState

    def params(self, like: Tensor) -> dict[str, Any]:
        p = {"beta": clamp01(self._cast(self.beta, like))}
        if self.has_current:
            p["alpha"] = clamp01(self._cast(self.alpha, like))
        return p
