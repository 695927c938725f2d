"""Adaptive-threshold LIF neuron (ALIF)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..functional.states import AdaptiveState
from .base import NeuronBase, ParamLike, _as_tensor, clamp01, decay_from


class AdaptiveLeaky(NeuronBase):
    """Leaky neuron whose threshold rises by ``adaptation`` with each spike and decays back
    with factor ``rho`` (or exp(-dt / tau_adapt)):

        a[t] = rho a[t-1] + adaptation z[t-1],  b[t] = thr + a[t]
        v[t] = beta v[t-1] + x[t] - z[t-1] b[t-1],  z[t] = H(v[t] - b[t])

    See ``spikeflow.functional.adaptive_step``. State: AdaptiveState(v, a, z).
    """

    model = "adaptive"
    state_type = AdaptiveState

    def __init__(
        self,
        beta: ParamLike | None = None,
        rho: ParamLike | None = None,
        adaptation: ParamLike = 0.1,
        threshold: ParamLike = 1.0,
        *,
        tau_mem: ParamLike | None = None,
        tau_adapt: ParamLike | None = None,
        dt: float = 1.0,
        learn_beta: bool = False,
        learn_rho: bool = False,
        learn_adaptation: bool = False,
        learn_threshold: bool = False,
        reset: str = "subtract",
        reset_delay: bool = True,
        detach_reset: bool | None = None,
        surrogate: Any = None,
        graded_spikes: ParamLike = 1.0,
        learn_graded_spikes: bool = False,
        inhibition: bool = False,
        backend: str | None = None,
    ) -> None:
        super().__init__(backend)
        self._register("beta", decay_from("beta", beta, tau_mem, dt, "tau_mem"), learn_beta)
        self._register("rho", decay_from("rho", rho, tau_adapt, dt, "tau_adapt"), learn_rho)
        self._register("adaptation", _as_tensor("adaptation", adaptation), learn_adaptation)
        self._spiking_init(
            threshold, learn_threshold, reset, reset_delay, detach_reset, surrogate,
            graded_spikes, learn_graded_spikes, inhibition,
        )

    def params(self, like: Tensor) -> dict[str, Any]:
        return {
            "beta": clamp01(self._cast(self.beta, like)),
            "rho": clamp01(self._cast(self.rho, like)),
            "adaptation": self._cast(self.adaptation, like),
            "threshold": self._cast(self.threshold, like),
            "graded": self._cast(self.graded_spikes, like),
        }
