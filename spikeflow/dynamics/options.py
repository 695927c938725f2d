"""Spike and reset options shared by every spiking neuron model."""

from __future__ import annotations

from typing import NamedTuple

from .. import surrogate as _surrogate

RESET_MODES = ("subtract", "zero", "none")


class SpikeOptions(NamedTuple):
    """How a neuron fires and resets.

    reset:        "subtract" (v -= threshold), "zero" (v -> 0) or "none".
    reset_delay:  True: a spike at step t resets the membrane at step t+1 (snnTorch's default);
                  False: the reset is applied in the same step, after the spike (NIR, Norse).
    detach_reset: whether the reset term carries gradient. None follows snnTorch: detached
                  for the delayed reset, attached for the same-step reset.
    surrogate:    derivative used for the Heaviside spike in the backward pass.
    inhibition:   winner-take-all: only the neuron with the largest v - threshold in each
                  sample may spike (the delayed reset still sees every crossing, as in snnTorch).
    """

    reset: str = "subtract"
    reset_delay: bool = True
    detach_reset: bool | None = None
    surrogate: _surrogate.Surrogate = _surrogate.ATan()
    inhibition: bool = False

    @property
    def detach(self) -> bool:
        return self.reset_delay if self.detach_reset is None else bool(self.detach_reset)


def make_options(
    reset: str = "subtract",
    reset_delay: bool = True,
    detach_reset: bool | None = None,
    surrogate: "_surrogate.Surrogate | str | None" = None,
    inhibition: bool = False,
) -> SpikeOptions:
    """Validate and build a SpikeOptions."""
    if not isinstance(reset, str) or reset not in RESET_MODES:
        raise ValueError(f"reset: expected one of {RESET_MODES}, got {reset!r}")
    if not isinstance(reset_delay, bool):
        raise TypeError(f"reset_delay: expected bool, got {type(reset_delay).__name__}")
    if detach_reset is not None and not isinstance(detach_reset, bool):
        raise TypeError(f"detach_reset: expected bool or None, got {type(detach_reset).__name__}")
    return SpikeOptions(reset, reset_delay, detach_reset, _surrogate.get(surrogate), bool(inhibition))
