"""Shared machinery of the neuron modules: parameters, validation, sequence and step calls."""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .. import kernels
from ..functional.options import SpikeOptions, make_options
from ..kernels.reference import STEPS
from . import checks

Number = float | int
# State fields that hold spikes (fed back or remembered), never quantized.
SPIKE_FIELDS = frozenset({"z", "s"})
ParamLike = Number | Tensor


def _as_tensor(name: str, value: ParamLike) -> Tensor:
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise TypeError(f"{name}: expected a number or a Tensor, got {type(value).__name__}")
    t = value.detach().clone() if isinstance(value, Tensor) else torch.tensor(float(value))
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: expected finite values, got {value!r}")
    return t


def decay_from(
    name: str, value: ParamLike | None, tau: ParamLike | None, dt: Number, tau_name: str
) -> Tensor:
    """A decay factor given directly or as exp(-dt / tau), validated to lie in [0, 1]."""
    if (value is None) == (tau is None):
        raise ValueError(f"give exactly one of {name} and {tau_name}, got {name}={value!r}, {tau_name}={tau!r}")
    if tau is not None:
        if not isinstance(dt, (int, float)) or isinstance(dt, bool) or not math.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt: expected a finite positive number, got {dt!r}")
        tau_t = _as_tensor(tau_name, tau)
        if (tau_t <= 0).any():
            raise ValueError(f"{tau_name}: expected positive time constants, got {tau!r}")
        checks.warn_short_tau(tau_name, tau_t, float(dt), name)
        return torch.exp(-dt / tau_t)
    decay = _as_tensor(name, value)  # type: ignore[arg-type]
    if ((decay < 0) | (decay > 1)).any():
        raise ValueError(f"{name}: expected values in [0, 1], got {value!r}")
    return decay


class NeuronBase(nn.Module):
    """Base of every neuron module.

    ``module(x, state=None, record=False)`` runs x [T, B, ...] and returns
    (outputs [T, B, ...], final state); with ``record=True`` the second item is the state
    trace (every field [T, B, ...]). ``module.step(x_t, state=None)`` advances one step.
    ``state=None`` starts from rest (all zeros). State is never stored on the module.
    """

    model: ClassVar[str]
    state_type: ClassVar[type]
    is_stateful: ClassVar[bool] = True

    #: scan inputs and initial states for NaN/inf (see ``spikeflow.neurons.checks``)
    check_finite: bool = True

    def __init__(self, backend: str | None = None) -> None:
        super().__init__()
        self.backend = None if backend is None else kernels.check_backend(backend)
        # Optional callable applied to every state field but the spikes after each step
        # (spikeflow.quant.StateQuantizer); set by spikeflow.quant.quantize.
        self.state_quant: Any = None

    # -- parameters -------------------------------------------------------------------
    def _register(self, name: str, value: Tensor, learnable: bool, flag: str | None = None) -> None:
        if checks.check_bool(flag or f"learn_{name}", learnable):
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def _spiking_init(
        self,
        threshold: ParamLike,
        learn_threshold: bool,
        reset: str,
        reset_delay: bool,
        detach_reset: bool | None,
        surrogate: Any,
        graded_spikes: ParamLike,
        learn_graded_spikes: bool,
        inhibition: bool,
    ) -> None:
        checks.check_bool("inhibition", inhibition)
        self.opts = make_options(reset, reset_delay, detach_reset, surrogate, inhibition)
        threshold_t = _as_tensor("threshold", threshold)
        checks.check_nonnegative("threshold", threshold_t, threshold)
        self._register("threshold", threshold_t, learn_threshold)
        self._register("graded_spikes", _as_tensor("graded_spikes", graded_spikes), learn_graded_spikes)

    def params(self, like: Tensor) -> dict[str, Any]:
        """Effective parameters for the dynamics, cast to ``like``'s dtype and device."""
        raise NotImplementedError

    def options(self) -> SpikeOptions | None:
        return getattr(self, "opts", None)

    @staticmethod
    def _cast(t: Tensor | None, like: Tensor) -> Tensor | None:
        return None if t is None else t.to(dtype=like.dtype, device=like.device)

    # -- state ------------------------------------------------------------------------
    def init_state(self, x_t: Tensor) -> NamedTuple:
        """The resting state for one step's input x_t [B, ...]."""
        zeros = torch.zeros_like(x_t)
        return self.state_type(*(zeros for _ in self.state_type._fields))

    def _check_state(self, state: Any, x_t: Tensor, x_name: str = "x_t", x_full: Tensor | None = None) -> NamedTuple:
        if state is None:
            return self.init_state(x_t)
        return checks.check_state(
            state, self.state_type, x_t, x_name, self.check_finite, x_t if x_full is None else x_full
        )

    def _check_params(self, params: dict[str, Any], x_t: Tensor) -> None:
        feature_shape = tuple(x_t.shape[1:])
        for name, value in params.items():
            if isinstance(value, Tensor) and value.dim() > 0 and name not in ("weight", "bias"):
                try:
                    ok = torch.broadcast_shapes(value.shape, feature_shape) == torch.Size(feature_shape)
                except RuntimeError:
                    ok = False
                if not ok:
                    raise ValueError(
                        f"{name}: per-neuron shape {tuple(value.shape)} does not fit the neuron shape "
                        f"{feature_shape} of an input step of shape {tuple(x_t.shape)}; sequences are "
                        "time-major [T, B, ...] (is the time dimension missing?)"
                    )

    # -- calls ------------------------------------------------------------------------
    def forward(self, x: Tensor, state: Any = None, record: bool = False) -> tuple[Tensor, Any]:
        scan = checks.scan_wanted(self.check_finite)  # done by the kernel that reads x (kernels.run)
        checks.check_input("x", x, sequence=True, finite=False)
        x_t = x[0]
        state = self._check_state(state, x_t, "x", x)
        params = self.params(x)
        self._check_params(params, x_t)
        if getattr(self.options(), "inhibition", False):
            checks.check_inhibition_width(x_t)
        if self.state_quant:  # compat neurons hold False (snnTorch's default) and quantize themselves
            if scan:
                checks.scan_finite("x", x)
            return self._run_state_quantized(x, state, params, record)
        return kernels.run(self.model, x, state, params, self.options(), record, self.backend, check_finite=scan)

    def _quantize_state(self, state: NamedTuple) -> NamedTuple:
        q = self.state_quant
        return type(state)(*(v if name in SPIKE_FIELDS else q(v) for name, v in zip(state._fields, state, strict=True)))

    def _run_state_quantized(self, x: Tensor, state: NamedTuple, params: dict[str, Any],
                             record: bool) -> tuple[Tensor, Any]:
        """The reference step loop: the membrane rounded before firing, every other state field but the spikes
        after each step (the fused kernels do not round inside their compiled loops)."""
        if x.shape[0] == 0:
            raise ValueError(f"x: expected at least one time step, got shape {tuple(x.shape)}")
        if self.backend not in (None, "auto", "reference"):
            raise ValueError(
                f"backend {self.backend!r}: state quantization rounds the state after every step, which only "
                "the 'reference' backend does; use backend='auto' or 'reference'"
            )
        step = STEPS[self.model]
        opts = self._quant_options()
        outs, states = [], []
        for t in range(x.shape[0]):
            out, state = step(x[t], state, opts, **params)
            state = self._quantize_state(state)
            outs.append(out)
            if record:
                states.append(state)
        if record:
            return torch.stack(outs), type(state)(*(torch.stack(f) for f in zip(*states, strict=True)))
        return torch.stack(outs), state

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Advance one time step: x_t [B, ...] -> (output [B, ...], new state)."""
        checks.check_input("x_t", x_t, sequence=False, finite=self.check_finite)
        state = self._check_state(state, x_t)
        params = self.params(x_t)
        self._check_params(params, x_t)
        if getattr(self.options(), "inhibition", False):
            checks.check_inhibition_width(x_t)
        if not self.state_quant:
            return STEPS[self.model](x_t, state, self.options(), **params)
        out, state = STEPS[self.model](x_t, state, self._quant_options(), **params)
        return out, self._quantize_state(state)

    def _quant_options(self) -> SpikeOptions:
        opts = self.options()
        if opts is None:
            raise ValueError(f"state_quant: {type(self).__name__} does not spike; state quantization is for spiking "
                             "neurons")
        return opts._replace(state_quant=self.state_quant)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in checks.SNNTORCH_STATE_METHODS:
                raise AttributeError(
                    f"{type(self).__name__}.{name}: spikeflow neurons keep no state, so there is nothing to "
                    "initialise or reset: start from `state = None` and loop `out, state = neuron.step(x_t, "
                    "state)`, or run the whole sequence with `neuron(x)`. To run snnTorch code unchanged use "
                    "`import spikeflow.compat.snntorch as snn`"
                ) from None
            raise

    def extra_repr(self) -> str:
        opts = self.options()
        if opts is None:
            return ""
        return f"reset={opts.reset!r}, reset_delay={opts.reset_delay}, surrogate={opts.surrogate!r}"


def _check_input(name: str, x: Any, min_dim: int, layout: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor {layout}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point Tensor, got dtype {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{name}: expected a Tensor {layout} with at least {min_dim} dims, got shape {tuple(x.shape)}")


def clamp01(t: Tensor) -> Tensor:
    """Decays are clipped to [0, 1] in the dynamics (as snnTorch does), learnable or not."""
    return t.clamp(0, 1)
