"""Second-order spiking neurons: Synaptic (current-based) and Alpha."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..functional.states import AlphaState, SynapticState
from .base import NeuronBase, ParamLike, clamp01, decay_from


class Synaptic(NeuronBase):
    """Current-based LIF neuron (snnTorch ``snn.Synaptic`` semantics).

        i[t] = alpha i[t-1] + x[t],   v[t] = beta v[t-1] + i[t] - R[t] thr

    alpha / beta given directly or as exp(-dt / tau_syn) / exp(-dt / tau_mem).
    State: SynapticState(i, v).
    """

    model = "synaptic"
    state_type = SynapticState

    def __init__(
        self,
        alpha: ParamLike | None = None,
        beta: ParamLike | None = None,
        threshold: ParamLike = 1.0,
        *,
        tau_syn: ParamLike | None = None,
        tau_mem: ParamLike | None = None,
        dt: float = 1.0,
        learn_alpha: bool = False,
        learn_beta: bool = False,
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
        self._register("alpha", decay_from("alpha", alpha, tau_syn, dt, "tau_syn"), learn_alpha)
        self._register("beta", decay_from("beta", beta, tau_mem, dt, "tau_mem"), learn_beta)
        self._spiking_init(
            threshold, learn_threshold, reset, reset_delay, detach_reset, surrogate,
            graded_spikes, learn_graded_spikes, inhibition,
        )

    def params(self, like: Tensor) -> dict[str, Any]:
        return {
            "alpha": clamp01(self._cast(self.alpha, like)),
            "beta": clamp01(self._cast(self.beta, like)),
            "threshold": self._cast(self.threshold, like),
            "graded": self._cast(self.graded_spikes, like),
        }


class Alpha(Synaptic):
    """Alpha neuron (snnTorch ``snn.Alpha`` semantics); needs alpha > beta and beta < 1.

        i_exc[t] = alpha i_exc[t-1] + x[t],  i_inh[t] = beta i_inh[t-1] - x[t]
        v[t] = tau_a (i_exc[t] + i_inh[t]),  tau_a = log(alpha)/(log(beta) - log(alpha)) + 1

    Default reset "zero"; only the delayed reset is defined. State: AlphaState(i_exc, i_inh, v).
    """

    model = "alpha"
    state_type = AlphaState

    def __init__(self, alpha: ParamLike | None = None, beta: ParamLike | None = None,
                 threshold: ParamLike = 1.0, *, reset: str = "zero", **kwargs: Any) -> None:
        if kwargs.get("reset_delay", True) is not True:
            raise ValueError("reset_delay: Alpha defines only the delayed reset (True), got False")
        super().__init__(alpha, beta, threshold, reset=reset, **kwargs)
        a, b = self.alpha.detach(), self.beta.detach()
        if (a <= b).any() or ((b <= 0) | (b >= 1)).any() or (a >= 1).any():
            raise ValueError(
                "alpha must be greater than beta for Alpha (0 < beta < alpha < 1), got "
                f"alpha={a.tolist() if alpha is None else alpha!r}, "
                f"beta={b.tolist() if beta is None else beta!r}"
            )
