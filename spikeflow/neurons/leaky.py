"""First-order spiking neurons: Leaky, IF, Lapicque."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..functional.states import LeakyState
from .base import NeuronBase, ParamLike, _as_tensor, clamp01, decay_from


class Leaky(NeuronBase):
    """First-order leaky integrate-and-fire neuron (snnTorch ``snn.Leaky`` semantics).

        v[t] = beta v[t-1] + x[t] - R[t] thr,   S[t] = H(v[t] - thr)

    See ``spikeflow.functional.first_order_step`` for every reset option.
    beta is given directly or as exp(-dt / tau_mem); scalar or per-neuron; ``learn_beta``
    and ``learn_threshold`` make them trainable. x: [T, B, ...] -> spikes [T, B, ...].
    """

    model = "leaky"
    state_type = LeakyState

    def __init__(
        self,
        beta: ParamLike | None = None,
        threshold: ParamLike = 1.0,
        *,
        tau_mem: ParamLike | None = None,
        dt: float = 1.0,
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
        self._register("beta", decay_from("beta", beta, tau_mem, dt, "tau_mem"), learn_beta)
        self._spiking_init(
            threshold, learn_threshold, reset, reset_delay, detach_reset, surrogate,
            graded_spikes, learn_graded_spikes, inhibition,
        )

    def params(self, like: Tensor) -> dict[str, Any]:
        return {
            "beta": clamp01(self._cast(self.beta, like)),
            "threshold": self._cast(self.threshold, like),
            "graded": self._cast(self.graded_spikes, like),
        }


class IF(Leaky):
    """Integrate-and-fire neuron without leak: Leaky with beta fixed at 1.

        v[t] = v[t-1] + x[t] - R[t] thr,   S[t] = H(v[t] - thr)
    """

    def __init__(self, threshold: ParamLike = 1.0, **kwargs: Any) -> None:
        for banned in ("beta", "tau_mem", "learn_beta"):
            if banned in kwargs:
                raise TypeError(f"IF has no leak: {banned!r} is not an argument (use Leaky)")
        super().__init__(beta=1.0, threshold=threshold, **kwargs)


class Lapicque(NeuronBase):
    """Lapicque's RC neuron (snnTorch ``snn.Lapicque``), forward Euler with step ``time_step``:

        v[t] = (1 - dt / (R C)) v[t-1] + (dt / C) x[t]

    Give R and C, or beta (then R = 1 and C = dt / ln(1/beta), as snnTorch), or beta and R.
    Reset rules as Leaky; a zero reset clears the new input too (as snnTorch).
    """

    model = "lapicque"
    state_type = LeakyState

    def __init__(
        self,
        beta: ParamLike | None = None,
        R: ParamLike | None = None,
        C: ParamLike | None = None,
        time_step: float = 1.0,
        threshold: ParamLike = 1.0,
        *,
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
        if (not isinstance(time_step, (int, float)) or isinstance(time_step, bool)
                or not math.isfinite(time_step) or time_step <= 0):
            raise ValueError(f"time_step: expected a finite positive number, got {time_step!r}")
        if R is not None and C is not None:
            r_t, c_t = _as_tensor("R", R), _as_tensor("C", C)
        elif beta is not None and C is None:
            b = decay_from("beta", beta, None, time_step, "tau")
            if ((b <= 0) | (b >= 1)).any():
                raise ValueError(f"beta: Lapicque needs 0 < beta < 1 to derive C, got {beta!r}")
            if (b < math.exp(-1)).any():
                raise ValueError(
                    f"beta: Lapicque derives R*C = time_step / ln(1/beta), which falls below time_step (a "
                    f"negative Euler decay 1 - ln(1/beta)) for beta < 1/e ~ 0.368, got {beta!r}"
                )
            r_t = _as_tensor("R", 1.0 if R is None else R)
            c_t = time_step / (r_t * torch.log(1 / b))
        else:
            raise ValueError(
                f"Lapicque: give R and C, or beta (optionally with R); got beta={beta!r}, R={R!r}, C={C!r}"
            )
        if (r_t <= 0).any() or (c_t <= 0).any():
            raise ValueError(f"R and C must be positive, got R={R!r}, C={C!r}")
        if (r_t * c_t < time_step).any():
            raise ValueError(
                f"R, C: the time constant R*C (min {float((r_t * c_t).min()):g}) must be at least time_step="
                f"{time_step:g}; below it the Euler step's decay 1 - time_step/(R*C) is negative and the "
                f"membrane oscillates in sign, got R={R!r}, C={C!r}"
            )
        self.register_buffer("R", r_t)
        self.register_buffer("C", c_t)
        self.time_step = float(time_step)
        self._spiking_init(
            threshold, learn_threshold, reset, reset_delay, detach_reset, surrogate,
            graded_spikes, learn_graded_spikes, inhibition,
        )

    def params(self, like: Tensor) -> dict[str, Any]:
        r, c = self._cast(self.R, like), self._cast(self.C, like)
        return {
            "decay": 1 - self.time_step / (r * c),
            "gain": self.time_step / c,
            "threshold": self._cast(self.threshold, like),
            "graded": self._cast(self.graded_spikes, like),
        }
