"""How idle OpenMP threads wait, chosen before torch loads libgomp (no torch import here).

libgomp (torch's and numba's shared OpenMP runtime) lets a thread that waits for work or at a
barrier spin for GOMP_SPINCOUNT iterations (300,000 by default, ~0.1-1 ms) before it sleeps.
On a machine with more runnable threads than cores the spinning thread burns the time slice its
partner needs to finish the other half of the parallel region, so every region waits for the
scheduler: a Yin-Yang EventProp epoch took ~45x longer with 3 busy loops beside it on 2 cores
(benchmarks/busy_machine.py). libgomp reads its settings once, when it is loaded (at
``import torch``), so they are set here, first thing in ``import spikeflow``:

    SPIKEFLOW_OMP_WAIT unset or "passive"  OMP_WAIT_POLICY=PASSIVE (waiting threads sleep at once)
    SPIKEFLOW_OMP_WAIT=<n>                  GOMP_SPINCOUNT=<n> (spin n iterations, then sleep)
    SPIKEFLOW_OMP_WAIT=keep                 leave the runtime's defaults

A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins; if torch was imported before
spikeflow the runtime is already configured and nothing changes (``openmp_wait_setting``
reports what happened).
"""

from __future__ import annotations

import os
import sys

_applied: str = "not configured"


def configure_openmp_waiting() -> str:
    """Set the OpenMP wait policy for this process if it is still possible; returns what was done."""
    global _applied
    choice = os.environ.get("SPIKEFLOW_OMP_WAIT", "passive").strip().lower()
    if choice not in ("keep", "passive") and not choice.isdigit():
        raise ValueError(f"SPIKEFLOW_OMP_WAIT: expected 'passive', 'keep' or a spin count, got {choice!r}")
    if choice == "keep":
        _applied = "kept the runtime defaults (SPIKEFLOW_OMP_WAIT=keep)"
    elif "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        _applied = "kept the user's OMP_WAIT_POLICY / GOMP_SPINCOUNT"
    elif "torch" in sys.modules:
        _applied = "too late: torch (and its OpenMP runtime) was imported before spikeflow"
    elif choice == "passive":
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _applied = "OMP_WAIT_POLICY=PASSIVE"
    else:
        os.environ["GOMP_SPINCOUNT"] = choice
        _applied = f"GOMP_SPINCOUNT={choice}"
    return _applied


def openmp_wait_setting() -> str:
    """What ``configure_openmp_waiting`` did at import."""
    return _applied
