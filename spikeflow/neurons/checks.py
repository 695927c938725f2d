"""Validation of neuron inputs, states and constructor arguments: one rule for every backend.

Called by ``NeuronBase`` before any backend runs, so the reference, cpu and triton backends
accept and reject exactly the same calls. Every failure is a ``TypeError`` (wrong kind of
thing) or ``ValueError`` (right kind, bad value) naming the argument, the expected and the
received value.

The finite-value scan of the input and the initial state costs one pass over the data; it can
be switched off globally (``set_finite_checks(False)`` or ``with finite_checks(False):``) or per
module (``neuron.check_finite = False``). It is skipped while ``torch.compile`` traces.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Iterator, NamedTuple

import torch
from torch import Tensor

_FINITE_CHECKS = True

# snnTorch's state-handling methods: named in a helpful AttributeError on spikeflow neurons
SNNTORCH_STATE_METHODS = frozenset({
    "init_leaky", "init_synaptic", "init_alpha", "init_lapicque", "init_rleaky", "init_rsynaptic",
    "reset_mem", "detach_hidden", "reset_hidden", "mem", "syn", "spk",
})

# a time constant this many times shorter than dt leaves a decay below exp(-10) ~ 4.5e-5
TAU_DT_WARN_RATIO = 10.0


def set_finite_checks(enabled: bool) -> None:
    """Turn the NaN/inf scan of neuron inputs and initial states on or off for every module."""
    global _FINITE_CHECKS
    _FINITE_CHECKS = check_bool("enabled", enabled)


def finite_checks_enabled() -> bool:
    return _FINITE_CHECKS


@contextlib.contextmanager
def finite_checks(enabled: bool) -> Iterator[None]:
    """``with finite_checks(False): ...`` runs a block without the NaN/inf scan."""
    global _FINITE_CHECKS
    previous = _FINITE_CHECKS
    _FINITE_CHECKS = check_bool("enabled", enabled)
    try:
        yield
    finally:
        _FINITE_CHECKS = previous


def check_bool(name: str, value: Any) -> bool:
    """Only a real bool is a flag: ``'no'``, ``0``, ``None`` are TypeErrors, never truthy/falsy."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def check_nonnegative(name: str, value: Tensor, given: Any) -> None:
    if (value < 0).any():
        raise ValueError(f"{name}: expected values >= 0, got {given!r}")


def warn_short_tau(tau_name: str, tau: Tensor, dt: float, decay_name: str) -> None:
    """Warn when tau << dt: the decay exp(-dt/tau) is ~0 and the neuron forgets every step."""
    shortest = float(tau.min()) if tau.numel() else math.inf
    if shortest * TAU_DT_WARN_RATIO < dt:
        warnings.warn(
            f"{tau_name}={shortest:g} is much shorter than dt={dt:g}: {decay_name} = exp(-dt/{tau_name}) = "
            f"{math.exp(-dt / shortest):.3g}, so the state is wiped at every step. Are {tau_name} and dt "
            f"in the same unit (e.g. both in seconds: dt=1e-3)?",
            UserWarning,
            stacklevel=4,
        )


def _compiling() -> bool:
    try:
        return bool(torch.compiler.is_compiling())
    except AttributeError:  # pragma: no cover - older torch
        return False


def scan_finite(name: str, x: Tensor) -> None:
    """Raise a ValueError naming ``name`` and counting NaN / inf elements when x is not finite."""
    # One reduction first: any NaN or inf makes the sum NaN or inf. Only then (or when finite values
    # overflow the sum) the exact elementwise check runs, so the common case costs a sum, not a mask.
    if not x.numel():
        return
    total = x.detach().sum(dtype=torch.float64) if x.dtype in (torch.float16, torch.bfloat16) else x.detach().sum()
    if bool(torch.isfinite(total)):
        return
    if not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(
            f"{name}: expected finite values, got {n_nan} NaN and {n_inf} inf element(s) of {x.numel()} "
            "(NaN would hide in the state and inf would spike forever; turn the scan off with "
            "spikeflow.neurons.set_finite_checks(False) or neuron.check_finite = False)"
        )


def check_input(name: str, x: Any, sequence: bool, finite: bool) -> Tensor:
    """A floating tensor; a sequence is [T >= 1, B, N...] (>= 3 dims), a step [B, ...]."""
    layout = "[T, B, ...]" if sequence else "[B, ...]"
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor {layout}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point Tensor, got dtype {x.dtype}")
    if x.device.type == "meta":
        raise ValueError(f"{name}: expected a tensor with data, got one on the meta device")
    if sequence:
        if x.dim() < 2:
            raise ValueError(
                f"{name}: expected a Tensor {layout} with at least 2 dims, got shape {tuple(x.shape)}"
            )
        if x.dim() == 2:
            raise ValueError(
                f"{name}: shape {tuple(x.shape)} is ambiguous: neuron(x) reads a sequence [T, B, N, ...] "
                "(at least one neuron dimension), and snnTorch's per-step call lif(x_t, mem) passes one "
                "step [B, N]. For one step use `out, state = neuron.step(x_t, state)`; for a sequence "
                "of scalar neurons pass x.unsqueeze(-1) ([T, B, 1]); to run snnTorch code unchanged "
                "use `import spikeflow.compat.snntorch as snn`"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one time step (T >= 1), got shape {tuple(x.shape)}")
    elif x.dim() < 1:
        raise ValueError(f"{name}: expected a Tensor {layout} with at least 1 dim, got shape {tuple(x.shape)}")
    if scan_wanted(finite):
        scan_finite(name, x)
    return x


def scan_wanted(finite: bool) -> bool:
    """Whether a module with ``check_finite = finite`` scans its input now (the global switch is
    on and torch.compile is not tracing)."""
    return finite and _FINITE_CHECKS and not _compiling()


def check_state(state: Any, state_type: type, x_t: Tensor, x_name: str, finite: bool, x_full: Tensor) -> NamedTuple:
    """Every field a floating tensor of x_t's shape, dtype and device (or None: rest)."""
    fields = state_type._fields
    if isinstance(state, Tensor):
        raise TypeError(
            f"state: expected {state_type.__name__}{fields} or None, got a bare Tensor of shape "
            f"{tuple(state.shape)}. snnTorch's `spk, mem = lif(x_t, mem)` is written "
            f"`spk, state = neuron.step(x_t, state)` here (state=None at rest), or run snnTorch code "
            "unchanged with `import spikeflow.compat.snntorch as snn`"
        )
    if not isinstance(state, tuple) or len(state) != len(fields):
        raise TypeError(f"state: expected {state_type.__name__}{fields} or None, got {type(state).__name__}")
    state = state_type(*state)
    for field, value in zip(fields, state, strict=True):
        name = f"state.{field}"
        if not isinstance(value, Tensor):
            raise ValueError(f"{name}: expected a Tensor of shape {tuple(x_t.shape)}, got {type(value).__name__}")
        if value.shape != x_t.shape:
            hint = ""
            if x_full is not x_t and value.shape == x_full.shape:
                hint = (
                    f" -- the state is shaped like the whole input {tuple(x_full.shape)}, i.e. the input is one "
                    "step [B, ...] as in snnTorch's lif(x_t, mem): use `neuron.step(x_t, state)` for one step "
                    "(neuron(x, state) reads x as a sequence [T, B, ...])"
                )
            raise ValueError(
                f"{name}: expected shape {tuple(x_t.shape)} (one step of {x_name}), got {tuple(value.shape)}{hint}"
            )
        if not value.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point Tensor of dtype {x_t.dtype}, got dtype {value.dtype}")
        if value.dtype != x_t.dtype:
            raise TypeError(
                f"{name}: expected dtype {x_t.dtype} (the dtype of {x_name}), got {value.dtype}; "
                f"cast with state = type(state)(*(f.to({x_t.dtype}) for f in state))"
            )
        if value.device != x_t.device:
            raise ValueError(f"{name}: expected a tensor on {x_t.device} (the device of {x_name}), got {value.device}")
        if finite and _FINITE_CHECKS and not _compiling():
            scan_finite(name, value)
    return state


def check_inhibition_width(x_t: Tensor) -> None:
    """Winner-take-all needs at least one neuron per sample."""
    if x_t.dim() >= 2 and math.prod(x_t.shape[1:]) == 0:
        raise ValueError(
            f"inhibition: winner-take-all needs at least one neuron per sample, got steps of shape {tuple(x_t.shape)}"
        )
