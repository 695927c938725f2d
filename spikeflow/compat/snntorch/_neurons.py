"""snnTorch 1.0's neuron classes on spikeflow's core neurons.

Each class subclasses the spikeflow neuron with the same dynamics, so parameters, validation
and the step functions (``spikeflow.kernels.reference.STEPS``, i.e. ``spikeflow.functional``)
are the core's; this file only adds snnTorch's calling convention: the per-step call
``spk, mem = lif(x_t, mem)``, hidden state kept on the module (``init_hidden``, ``mem=None``
continuing from the last call), ``output``, ``reset_mem()``/``init_leaky()``, snnTorch's
``reset_delay=False`` arithmetic and ``state_quant``.

State lives in plain attributes (``self.mem``, ...), never in registered buffers, and there is
no class-level instance list: ``utils.reset(net)`` walks one network.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from ... import neurons as _core
from ...functional import delayed_reset_signal, fire
from ...kernels.reference import STEPS
from ...neurons import checks
from . import _fused
from .surrogate import NoGradient, as_surrogate

__all__ = ["SpikingNeuron", "LIF", "Leaky", "Synaptic", "Alpha", "Lapicque", "RLeaky", "RSynaptic"]

_RESET_VAL = {"subtract": 0, "zero": 1, "none": 2}


class SpikingNeuron(nn.Module):
    """Mixin holding snnTorch's calling convention on top of a spikeflow core neuron.

    Subclasses set ``state_names`` (snnTorch's names of the state fields, in the order of the
    core state NamedTuple) and call ``_compat_init`` after the core constructor.
    """

    state_names: ClassVar[tuple[str, ...]] = ("mem",)
    #: models whose snnTorch forward applies the reset_delay=False correction
    same_step_quirk: ClassVar[bool] = True

    # -- construction -------------------------------------------------------------------
    def _register(self, name: str, value: Tensor, learnable: bool, flag: str | None = None) -> None:
        # snnTorch's parameter name for the graded spike factor
        if name == "graded_spikes":
            name, flag = "graded_spikes_factor", flag or "learn_graded_spikes_factor"
        super()._register(name, value, learnable, flag)  # type: ignore[misc]

    @property
    def graded_spikes(self) -> Tensor:  # read by the core's params()
        return self.graded_spikes_factor

    def _compat_init(self, init_hidden: Any, output: Any, reset_mechanism: str, reset_delay: Any,
                     state_quant: Any, surrogate_disable: Any) -> None:
        self.init_hidden = checks.check_bool("init_hidden", init_hidden)
        self.output = checks.check_bool("output", output)
        self.reset_delay = checks.check_bool("reset_delay", reset_delay)
        self.surrogate_disable = checks.check_bool("surrogate_disable", surrogate_disable)
        if state_quant is not False and not callable(state_quant):
            raise TypeError(f"state_quant: expected False or a callable quantizer, got {type(state_quant).__name__}")
        self.state_quant: Callable[[Tensor], Tensor] | bool = state_quant
        self._reset_mechanism = reset_mechanism
        # snnTorch keeps the reset mode in its state_dict; kept so its checkpoints load unchanged
        self.register_buffer("reset_mechanism_val", torch.as_tensor(_RESET_VAL[reset_mechanism]))
        self.reset_mem()

    @property
    def reset_mechanism(self) -> str:
        return self._reset_mechanism

    @property
    def spike_grad(self) -> Any:
        return self.opts.surrogate

    @staticmethod
    def _spike_grad(spike_grad: Any, surrogate_disable: bool) -> Any:
        if surrogate_disable is True:
            return NoGradient()
        return as_surrogate(spike_grad)

    # -- state ---------------------------------------------------------------------------
    def reset_mem(self) -> Any:
        """Clear the hidden state (to empty tensors: the next call starts from rest)."""
        for name in self.state_names:
            object.__setattr__(self, name, torch.zeros(0))
        values = tuple(getattr(self, n) for n in self.state_names)
        return values[0] if len(values) == 1 else values

    def detach_hidden(self) -> None:
        """Detach this neuron's hidden state from the graph (truncated BPTT)."""
        for name in self.state_names:
            object.__setattr__(self, name, getattr(self, name).detach())

    def reset_hidden(self) -> None:
        for name in self.state_names:
            object.__setattr__(self, name, torch.zeros_like(getattr(self, name)))

    def _state_shape(self, input_: Tensor) -> tuple[int, ...]:
        return tuple(input_.shape)

    def _gather_state(self, input_: Tensor, given: dict[str, Any]) -> Any:
        """The state to start from: given values, else the stored ones; empty means rest."""
        if self.init_hidden and getattr(self, "_is_replica", False):
            raise RuntimeError(
                "init_hidden=True under nn.DataParallel: each replica's hidden state is discarded after every "
                "call, so a per-step loop would restart from rest at every step (snnTorch silently does this). "
                "Pass the state explicitly (init_hidden=False), or use DistributedDataParallel (the state is "
                "not a buffer, so it is not overwritten by rank 0's)"
            )
        if self.init_hidden and any(v is not None for v in given.values()):
            raise TypeError(
                f"{', '.join(repr(k) for k, v in given.items() if v is not None)}: not an argument while "
                "init_hidden=True (the state is kept on the module)"
            )
        shape = self._state_shape(input_)
        fields = []
        any_explicit = False
        for name in self.state_names:
            value = given.get(name)
            explicit = value is not None
            any_explicit |= explicit
            if value is None:
                value = getattr(self, name)
            if not isinstance(value, Tensor):
                raise TypeError(f"{name}: expected a Tensor or None, got {type(value).__name__}")
            if tuple(value.shape) != shape:
                if explicit and value.numel() != 0:
                    raise ValueError(
                        f"{name}: expected shape {shape} (that of the input step) or an empty tensor from "
                        f"init/reset_mem(), got {tuple(value.shape)}"
                    )
                # empty (fresh / reset) or a stored state of another batch size: rest, as snnTorch
                value = torch.zeros(shape, dtype=input_.dtype, device=input_.device)
            elif value.dtype != input_.dtype and value.is_floating_point() and not explicit:
                value = value.to(input_.dtype)  # a stored state follows a model moved to another dtype
            fields.append(value)
        # the NaN/inf scan of the state happens after the step, on the new state (see _call)
        return self._validate_state(tuple(fields), self._state_like(input_))

    def _validate_state(self, fields: tuple[Tensor, ...], like: Tensor) -> Any:
        return checks.check_state(fields, self.state_type, like, "input_", False, like)  # type: ignore[attr-defined]

    def _state_like(self, input_: Tensor) -> Tensor:
        return input_

    def _store(self, state: Any) -> None:
        for name, value in zip(self.state_names, state, strict=True):
            object.__setattr__(self, name, value)

    # -- the step ---------------------------------------------------------------------------
    def _advance(self, input_: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One step of the core dynamics (delayed reset), then snnTorch's extras."""
        params = self.params(input_)  # type: ignore[attr-defined]
        self._check_params(params, input_)  # type: ignore[attr-defined]
        opts = self.opts  # type: ignore[attr-defined]
        fused = _fused.leaky_step_supported(self, input_, state)
        self._finite_verified = False
        if fused:
            # the numba kernel checks every new membrane for NaN/inf as it computes it
            spk, new, self._finite_verified = _fused.leaky_step_checked(input_, state, params, opts)
        else:
            spk, new = STEPS[self.model](input_, state, opts, **params)  # type: ignore[attr-defined]
        if self.state_quant:
            self._finite_verified = False
            q = self.state_quant
            new = type(new)(*(f if n == "spk" else q(f) for n, f in zip(self.state_names, new, strict=True)))
            spk = fire(q(new.v), params["threshold"], opts) * params["graded"]
            if "spk" in self.state_names:
                new = new._replace(s=spk)
        if not self.reset_delay and self.same_step_quirk and self.reset_mechanism != "none":
            self._finite_verified = False
            new, spk = self._snntorch_same_step_reset(state, new, spk, params)
        return spk, new

    def _snntorch_same_step_reset(self, old: Any, new: Any, spk: Tensor, params: dict[str, Any]) -> tuple[Any, Tensor]:
        """snnTorch's reset_delay=False: the delayed reset R = H(v[t-1] - thr) stays applied and
        v -= (S - R) thr (or v -= (S - R) v): a hidden second threshold when v[t-1] > thr after
        a reset. Reproduced for numerical compatibility (docs/migrating-from-snntorch.md)."""
        thr = params["threshold"]
        r = delayed_reset_signal(old.v, thr, self.opts._replace(detach_reset=True))  # type: ignore[attr-defined]
        do_reset = spk / params["graded"] - r
        v = new.v - do_reset * thr if self.reset_mechanism == "subtract" else new.v - do_reset * new.v
        return new._replace(v=v), spk

    def _check_finite_step(self, input_: Tensor, old: Any, new: Any) -> None:
        """One scan per step: NaN/inf in the input or the state reaches the new membrane; only
        then are input and state scanned to name the culprit."""
        if bool(torch.isfinite(new[-1]).all()):
            return
        checks.check_input("input_", input_.reshape(-1), sequence=False, finite=True)
        for name, value in zip(self.state_names, old, strict=True):
            checks.scan_finite(name, value)
        raise ValueError(
            f"input_: the membrane became non-finite from finite input and state (overflow: input of magnitude "
            f"{float(input_.abs().max()):.3g}); check the input scale"
        )

    def _call(self, input_: Tensor, **given: Any) -> Any:
        # snnTorch also takes a 0-d input (one scalar neuron)
        checks.check_input("input_", input_.reshape(1) if isinstance(input_, Tensor) and input_.dim() == 0 else input_,
                           sequence=False, finite=False)
        state = self._gather_state(input_, given)
        spk, new = self._advance(input_, state)
        if self.check_finite and checks.finite_checks_enabled() and not getattr(self, "_finite_verified", False):  # type: ignore[attr-defined]
            self._check_finite_step(input_, state, new)
        self._store(new)
        if self.init_hidden and not self.output:
            return spk
        outs = [f for n, f in zip(self.state_names, new, strict=True) if n != "spk"]
        return (spk, *outs)


def _core_kwargs(threshold: Any, spike_grad: Any, surrogate_disable: Any, inhibition: Any, learn_threshold: Any,
                 reset_mechanism: Any, graded_spikes_factor: Any = 1.0,
                 learn_graded_spikes_factor: Any = False) -> dict[str, Any]:
    checks.check_bool("surrogate_disable", surrogate_disable)
    if not isinstance(reset_mechanism, str) or reset_mechanism not in _RESET_VAL:
        raise ValueError(f"reset_mechanism: expected 'subtract', 'zero' or 'none', got {reset_mechanism!r}")
    return dict(
        threshold=threshold, learn_threshold=learn_threshold, reset=reset_mechanism, reset_delay=True,
        surrogate=SpikingNeuron._spike_grad(spike_grad, surrogate_disable), graded_spikes=graded_spikes_factor,
        learn_graded_spikes=learn_graded_spikes_factor, inhibition=inhibition,
    )


LIF = SpikingNeuron


class Leaky(SpikingNeuron, _core.Leaky):
    """snnTorch ``Leaky``: ``spk, mem = lif(input_, mem)``; U[t+1] = beta U[t] + I[t+1] - R thr."""

    state_names = ("mem",)

    def __init__(self, beta: Any, threshold: Any = 1.0, spike_grad: Any = None, surrogate_disable: bool = False,
                 init_hidden: bool = False, inhibition: bool = False, learn_beta: bool = False,
                 learn_threshold: bool = False, reset_mechanism: str = "subtract", state_quant: Any = False,
                 output: bool = False, graded_spikes_factor: Any = 1.0, learn_graded_spikes_factor: bool = False,
                 reset_delay: bool = True) -> None:
        _core.Leaky.__init__(self, beta, learn_beta=learn_beta, **_core_kwargs(
            threshold, spike_grad, surrogate_disable, inhibition, learn_threshold, reset_mechanism,
            graded_spikes_factor, learn_graded_spikes_factor))
        self._compat_init(init_hidden, output, reset_mechanism, reset_delay, state_quant, surrogate_disable)

    def forward(self, input_: Tensor, mem: Tensor | None = None) -> Any:  # type: ignore[override]
        return self._call(input_, mem=mem)

    def init_leaky(self) -> Tensor:
        return self.reset_mem()


class Synaptic(SpikingNeuron, _core.Synaptic):
    """snnTorch ``Synaptic``: ``spk, syn, mem = lif(input_, syn, mem)``."""

    state_names = ("syn", "mem")

    def __init__(self, alpha: Any, beta: Any, threshold: Any = 1.0, spike_grad: Any = None,
                 surrogate_disable: bool = False, init_hidden: bool = False, inhibition: bool = False,
                 learn_alpha: bool = False, learn_beta: bool = False, learn_threshold: bool = False,
                 reset_mechanism: str = "subtract", state_quant: Any = False, output: bool = False,
                 reset_delay: bool = True) -> None:
        _core.Synaptic.__init__(self, alpha, beta, learn_alpha=learn_alpha, learn_beta=learn_beta, **_core_kwargs(
            threshold, spike_grad, surrogate_disable, inhibition, learn_threshold, reset_mechanism))
        self._compat_init(init_hidden, output, reset_mechanism, reset_delay, state_quant, surrogate_disable)

    def forward(self, input_: Tensor, syn: Tensor | None = None, mem: Tensor | None = None) -> Any:  # type: ignore[override]
        return self._call(input_, syn=syn, mem=mem)

    def init_synaptic(self) -> tuple[Tensor, Tensor]:
        return self.reset_mem()


class Alpha(SpikingNeuron, _core.Alpha):
    """snnTorch ``Alpha``: ``spk, syn_exc, syn_inh, mem = lif(input_, syn_exc, syn_inh, mem)``."""

    state_names = ("syn_exc", "syn_inh", "mem")
    same_step_quirk = False

    def __init__(self, alpha: Any, beta: Any, threshold: Any = 1.0, spike_grad: Any = None,
                 surrogate_disable: bool = False, init_hidden: bool = False, inhibition: bool = False,
                 learn_alpha: bool = False, learn_beta: bool = False, learn_threshold: bool = False,
                 reset_mechanism: str = "zero", state_quant: Any = False, output: bool = False) -> None:
        _core.Alpha.__init__(self, alpha, beta, learn_alpha=learn_alpha, learn_beta=learn_beta, **_core_kwargs(
            threshold, spike_grad, surrogate_disable, inhibition, learn_threshold, reset_mechanism))
        self._compat_init(init_hidden, output, reset_mechanism, True, state_quant, surrogate_disable)

    def forward(self, input_: Tensor, syn_exc: Tensor | None = None, syn_inh: Tensor | None = None,  # type: ignore[override]
                mem: Tensor | None = None) -> Any:
        return self._call(input_, syn_exc=syn_exc, syn_inh=syn_inh, mem=mem)

    def init_alpha(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.reset_mem()


class Lapicque(SpikingNeuron, _core.Lapicque):
    """snnTorch ``Lapicque``: RC membrane, ``spk, mem = lif(input_, mem)``; beta or R and C."""

    state_names = ("mem",)
    same_step_quirk = False

    def __init__(self, beta: Any = False, R: Any = False, C: Any = False, time_step: float = 1,
                 threshold: Any = 1.0, spike_grad: Any = None, surrogate_disable: bool = False,
                 init_hidden: bool = False, inhibition: bool = False, learn_beta: bool = False,
                 learn_threshold: bool = False, reset_mechanism: str = "subtract", state_quant: Any = False,
                 output: bool = False) -> None:
        if checks.check_bool("learn_beta", learn_beta):
            raise ValueError("learn_beta: Lapicque's decay comes from R, C and time_step and is not learnable here")
        given = {k: (None if v is False else v) for k, v in (("beta", beta), ("R", R), ("C", C))}
        if given["beta"] is not None and given["R"] is not None and given["C"] is not None:
            raise ValueError(
                "beta, R, C: give beta, or R and C, or beta with one of R and C (as snnTorch), not all three")
        if given["beta"] is not None and given["C"] is not None:  # snnTorch derives R from beta and C
            b = torch.as_tensor(given["beta"], dtype=torch.get_default_dtype())
            given["R"] = torch.as_tensor(time_step) / (torch.as_tensor(given["C"]) * torch.log(1 / b))
            given["beta"] = None
        _core.Lapicque.__init__(self, given["beta"], given["R"], given["C"], time_step=time_step, **_core_kwargs(
            threshold, spike_grad, surrogate_disable, inhibition, learn_threshold, reset_mechanism))
        self._compat_init(init_hidden, output, reset_mechanism, True, state_quant, surrogate_disable)

    def forward(self, input_: Tensor, mem: Tensor | None = None) -> Any:  # type: ignore[override]
        return self._call(input_, mem=mem)

    def init_lapicque(self) -> Tensor:
        return self.reset_mem()


class _RecurrentCompat(SpikingNeuron):
    """all_to_all with ``linear_features`` uses the core's all-to-all recurrence; one-to-one
    ``V`` the core's; a ``Conv2d`` recurrence (``conv2d_channels``, ``kernel_size``) is added
    to the input before the core step (its ``V`` fixed at 0)."""

    def _recurrence_args(self, V: Any, all_to_all: Any, linear_features: Any, conv2d_channels: Any,
                         kernel_size: Any) -> dict[str, Any]:
        checks.check_bool("all_to_all", all_to_all)
        conv = conv2d_channels is not None or kernel_size is not None
        if all_to_all and linear_features and conv:
            raise TypeError("linear_features: cannot be combined with conv2d_channels/kernel_size")
        if all_to_all and not linear_features and not conv:
            raise TypeError(
                "linear_features: all_to_all=True needs linear_features or (conv2d_channels and kernel_size)")
        if all_to_all and conv and (conv2d_channels is None or kernel_size is None):
            raise TypeError("conv2d_channels, kernel_size: both are needed for a convolutional recurrence")
        if not all_to_all and (linear_features or conv):
            raise TypeError(
                "all_to_all=False: linear_features, conv2d_channels and kernel_size must not be given (V is used)")
        self._conv_args = (conv2d_channels, kernel_size) if (all_to_all and conv) else None
        if self._conv_args is not None:
            return {"V": 0.0, "all_to_all": False, "linear_features": None}
        return {"V": V, "all_to_all": all_to_all, "linear_features": linear_features}

    def _init_conv(self, learn_recurrent: bool) -> None:
        if self._conv_args is not None:
            channels, k = self._conv_args
            pad = (k // 2, k // 2) if isinstance(k, int) else (k[0] // 2, k[1] // 2)
            self.recurrent = nn.Conv2d(channels, channels, k, padding=pad)
            self.recurrent.requires_grad_(learn_recurrent)
            self.V.requires_grad_(False)  # the core one-to-one term (V = 0) is unused

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # snnTorch's one-to-one recurrence also saves V under its RecurrentOneToOne submodule
        if not self.all_to_all and self._conv_args is None:
            state_dict.pop(prefix + "recurrent.V", None)
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[misc]

    def _advance(self, input_: Tensor, state: Any) -> tuple[Tensor, Any]:
        if self._conv_args is not None:
            input_ = input_ + self.recurrent(state.s)
        return super()._advance(input_, state)


class RLeaky(_RecurrentCompat, _core.RLeaky):
    """snnTorch ``RLeaky``: ``spk, mem = lif(input_, spk, mem)``; the spikes feed back."""

    state_names = ("spk", "mem")

    def __init__(self, beta: Any, V: Any = 1.0, all_to_all: bool = True, linear_features: int | None = None,
                 conv2d_channels: int | None = None, kernel_size: Any = None, threshold: Any = 1.0,
                 spike_grad: Any = None, surrogate_disable: bool = False, init_hidden: bool = False,
                 inhibition: bool = False, learn_beta: bool = False, learn_threshold: bool = False,
                 learn_recurrent: bool = True, reset_mechanism: str = "subtract", state_quant: Any = False,
                 output: bool = False, reset_delay: bool = True) -> None:
        rec = self._recurrence_args(V, all_to_all, linear_features, conv2d_channels, kernel_size)
        _core.RLeaky.__init__(self, beta, **rec, learn_beta=learn_beta, learn_recurrent=learn_recurrent,
                              **_core_kwargs(threshold, spike_grad, surrogate_disable, inhibition,
                                             learn_threshold, reset_mechanism))
        self._init_conv(learn_recurrent)
        self._compat_init(init_hidden, output, reset_mechanism, reset_delay, state_quant, surrogate_disable)

    def forward(self, input_: Tensor, spk: Tensor | None = None, mem: Tensor | None = None) -> Any:  # type: ignore[override]
        return self._call(input_, spk=spk, mem=mem)

    def init_rleaky(self) -> tuple[Tensor, Tensor]:
        return self.reset_mem()


class RSynaptic(_RecurrentCompat, _core.RSynaptic):
    """snnTorch ``RSynaptic``: ``spk, syn, mem = lif(input_, spk, syn, mem)``.

    snnTorch 1.0 ignores ``reset_delay=False`` for this model (the same-step reset is computed
    and discarded); so does this layer, for equal numbers.
    """

    state_names = ("spk", "syn", "mem")
    same_step_quirk = False

    def __init__(self, alpha: Any, beta: Any, V: Any = 1.0, all_to_all: bool = True,
                 linear_features: int | None = None, conv2d_channels: int | None = None, kernel_size: Any = None,
                 threshold: Any = 1.0, spike_grad: Any = None, surrogate_disable: bool = False,
                 init_hidden: bool = False, inhibition: bool = False, learn_alpha: bool = False,
                 learn_beta: bool = False, learn_threshold: bool = False, learn_recurrent: bool = True,
                 reset_mechanism: str = "subtract", state_quant: Any = False, output: bool = False,
                 reset_delay: bool = True) -> None:
        rec = self._recurrence_args(V, all_to_all, linear_features, conv2d_channels, kernel_size)
        _core.RSynaptic.__init__(self, alpha, beta, **rec, learn_alpha=learn_alpha, learn_beta=learn_beta,
                                 learn_recurrent=learn_recurrent,
                                 **_core_kwargs(threshold, spike_grad, surrogate_disable, inhibition,
                                                learn_threshold, reset_mechanism))
        self._init_conv(learn_recurrent)
        self._compat_init(init_hidden, output, reset_mechanism, reset_delay, state_quant, surrogate_disable)

    def forward(self, input_: Tensor, spk: Tensor | None = None, syn: Tensor | None = None,  # type: ignore[override]
                mem: Tensor | None = None) -> Any:
        return self._call(input_, spk=spk, syn=syn, mem=mem)

    def init_rsynaptic(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.reset_mem()
