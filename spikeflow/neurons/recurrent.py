"""Recurrent spiking neurons: RLeaky and RSynaptic (the layer's spikes fed back to itself)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..functional.states import RLeakyState, RSynapticState
from . import checks
from .base import NeuronBase, ParamLike, _as_tensor, clamp01, decay_from


class _Recurrent(NeuronBase):
    """Holds the feedback: an all-to-all ``nn.Linear(N, N)`` or a one-to-one scale ``V``."""

    def _init_recurrence(self, V: ParamLike, all_to_all: bool, linear_features: int | None, learn: bool) -> None:
        self.all_to_all = checks.check_bool("all_to_all", all_to_all)
        checks.check_bool("learn_recurrent", learn)
        if self.all_to_all:
            if not isinstance(linear_features, int) or isinstance(linear_features, bool) or linear_features <= 0:
                raise ValueError(
                    f"linear_features: all_to_all recurrence needs the number of neurons (int > 0), "
                    f"got {linear_features!r}"
                )
            self.recurrent = nn.Linear(linear_features, linear_features)
            self.recurrent.requires_grad_(learn)
        else:
            self._register("V", _as_tensor("V", V), learn, "learn_recurrent")

    def _recurrent_params(self, like: Tensor) -> dict[str, Any]:
        if self.all_to_all:
            return {
                "weight": self._cast(self.recurrent.weight, like),
                "bias": self._cast(self.recurrent.bias, like),
                "v_scale": None,
            }
        return {"weight": None, "bias": None, "v_scale": self._cast(self.V, like)}

    def _check_params(self, params: dict[str, Any], x_t: Tensor) -> None:
        super()._check_params(params, x_t)
        if self.all_to_all and x_t.shape[1:] != (self.recurrent.in_features,):
            raise ValueError(
                f"x: all-to-all recurrence over {self.recurrent.in_features} neurons expects steps of "
                f"shape [B, {self.recurrent.in_features}], got {tuple(x_t.shape)} (sequences are [T, B, N])"
            )


class RLeaky(_Recurrent):
    """Recurrent Leaky neuron (snnTorch ``snn.RLeaky`` semantics).

        v[t] = beta v[t-1] + x[t] + rec(s[t-1]) - R[t] thr,  s[t] = H(v[t] - thr)

    rec is ``nn.Linear(linear_features, linear_features)`` (all_to_all) or ``V * s``.
    State: RLeakyState(s, v).
    """

    model = "rleaky"
    state_type = RLeakyState

    def __init__(
        self,
        beta: ParamLike | None = None,
        V: ParamLike = 1.0,
        all_to_all: bool = True,
        linear_features: int | None = None,
        threshold: ParamLike = 1.0,
        *,
        tau_mem: ParamLike | None = None,
        dt: float = 1.0,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        learn_recurrent: bool = True,
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
        self._init_recurrence(V, all_to_all, linear_features, learn_recurrent)
        self._spiking_init(
            threshold, learn_threshold, reset, reset_delay, detach_reset, surrogate,
            graded_spikes, learn_graded_spikes, inhibition,
        )

    def params(self, like: Tensor) -> dict[str, Any]:
        return {
            "beta": clamp01(self._cast(self.beta, like)),
            "threshold": self._cast(self.threshold, like),
            "graded": self._cast(self.graded_spikes, like),
            **self._recurrent_params(like),
        }


class RSynaptic(_Recurrent):
    """Recurrent current-based neuron (snnTorch ``snn.RSynaptic`` semantics).

        i[t] = alpha i[t-1] + x[t] + rec(s[t-1]),  v[t] = beta v[t-1] + i[t] - R[t] thr

    State: RSynapticState(s, i, v).
    """

    model = "rsynaptic"
    state_type = RSynapticState

    def __init__(
        self,
        alpha: ParamLike | None = None,
        beta: ParamLike | None = None,
        V: ParamLike = 1.0,
        all_to_all: bool = True,
        linear_features: int | None = None,
        threshold: ParamLike = 1.0,
        *,
        tau_syn: ParamLike | None = None,
        tau_mem: ParamLike | None = None,
        dt: float = 1.0,
        learn_alpha: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        learn_recurrent: bool = True,
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
        self._init_recurrence(V, all_to_all, linear_features, learn_recurrent)
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
            **self._recurrent_params(like),
        }
