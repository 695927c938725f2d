"""Import options: the choices NIR files leave open (see docs/nir.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .semantics import check_dt, check_scheme

META = "spikeflow_"  # prefix of the metadata keys spikeflow writes (nodes and graph)


@dataclass(frozen=True)
class ImportOptions:
    """dt: seconds per step (not stored in files). discretization: "euler" or "exp".
    reset: None (metadata, else NIR's reset to v_reset), "zero", "subtract" or "none".
    reset_delay: None (metadata, else False: reset in the step of the spike) or a bool.
    threshold: "gt" (spike if v > thr, NIR) or "ge" (v >= thr, SpikingJelly/Sinabs).
    if_gain: "euler" (IF/I add dt*r*x per step) or "unit" (add r*x, the dt-free Sinabs/Norse reading).
    recurrent_bias_at_start: None (metadata, else False) or bool: whether an Affine on a cycle's
        back edge delivers its bias at the first step (snnTorch RLeaky) or zero (nirtorch).
    flatten_batch: True if Flatten dims count a batch dim (legacy exports), False as NIR says.
    use_metadata: honour spikeflow_* metadata written by spikeflow's exporter.
    convention: the preset these options came from (conventions.py), for the record.
    neuron_dt: the step used for neuron time constants when it differs from dt (Norse 1.1.0 files).
    start_at_reset: spiking neurons start at v = v_reset (SpikingJelly) instead of v = 0.
    """

    dt: float = 1e-4
    discretization: str | None = None
    reset: str | None = None
    reset_delay: bool | None = None
    threshold: str = "gt"
    if_gain: str = "euler"
    recurrent_bias_at_start: bool | None = None
    flatten_batch: bool = False
    use_metadata: bool = True
    convention: str = "nir"
    neuron_dt: float | None = None
    start_at_reset: bool = False

    def __post_init__(self) -> None:
        check_dt(self.dt)
        if self.neuron_dt is not None:
            check_dt(self.neuron_dt)
        if self.discretization is not None:
            check_scheme(self.discretization)
        if self.reset not in (None, "zero", "subtract", "none"):
            raise ValueError(f"reset: expected None, 'zero', 'subtract' or 'none', got {self.reset!r}")
        for name in ("reset_delay", "recurrent_bias_at_start"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name}: expected None or bool, got {type(value).__name__}")
        if self.threshold not in ("gt", "ge"):
            raise ValueError(f"threshold: expected 'gt' or 'ge', got {self.threshold!r}")
        if self.if_gain not in ("euler", "unit"):
            raise ValueError(f"if_gain: expected 'euler' or 'unit', got {self.if_gain!r}")
        for name in ("flatten_batch", "use_metadata", "start_at_reset"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected bool, got {type(getattr(self, name)).__name__}")

    def meta(self, metadata: Any, key: str) -> Any:
        """A spikeflow metadata value, or None when absent or ignored."""
        if not self.use_metadata or not isinstance(metadata, dict):
            return None
        value = metadata.get(META + key)
        if isinstance(value, bytes):
            value = value.decode("utf8")
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            value = value.item()
        return value

    def scheme(self, metadata: Any) -> str:
        if self.discretization is not None:
            return self.discretization
        found = self.meta(metadata, "discretization")
        return check_scheme(found) if found is not None else "euler"
