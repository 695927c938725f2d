"""Command-line tasks of the online rules (``spikeflow train bandit``); the digits task's
``--method eprop|ottt|stdp`` lives in ``spikeflow.online.digits``."""

from __future__ import annotations

from typing import Any


def register(tasks: dict[str, Any]) -> None:
    """Add the ``bandit`` task (R-STDP) to a CLI task registry."""
    from .bandit import BanditTask

    tasks["bandit"] = BanditTask()
