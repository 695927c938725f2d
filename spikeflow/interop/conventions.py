"""Import presets: the conventions each exporter implies but does not write into the file.

| convention   | dt    | threshold | IF gain | reset timing | recurrent bias at t=0 | v at t=0 | notes |
|--------------|-------|-----------|---------|--------------|-----------------------|----------|-------|
| nir          | 1e-4  | v > thr   | dt*r    | same step    | no (zero)             | 0        | NIR's own reading |
| spikeflow    | hint  | v > thr   | dt*r    | metadata     | metadata              | 0        | dt from spikeflow_dt |
| snntorch     | 1e-4  | v > thr   | dt*r    | same step    | yes (RLeaky's W s + b)| 0        | dt hard-coded |
| norse        | 1e-3  | v > thr   | r       | same step    | no                    | 0        | IAF dt-free; tau bug |
| spikingjelly | 1e-4  | v >= thr  | dt*r    | same step    | no (nirtorch)         | v_reset  | |

A preset only fills options the caller did not give. ``guess`` reads the traces exporters leave:
spikeflow's ``spikeflow_*`` metadata; snnTorch's ``<layer>.lif``/``<layer>.w_rec`` recurrent names
or LIF/CubaLIF written with ``r = tau/1e-4``; Norse's ``r = 1`` (and ``w_in = 1``) neurons under the
legacy numeric names; SpikingJelly's (nirtorch tracer's) ``input_1`` and ``_0, _1, ...`` names.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import nir
import numpy as np

log = logging.getLogger("spikeflow.interop")

PRESETS: dict[str, dict[str, Any]] = {
    "nir": dict(dt=1e-4, threshold="gt", if_gain="euler", reset_delay=False, recurrent_bias_at_start=False),
    "spikeflow": dict(threshold="gt", if_gain="euler"),
    "snntorch": dict(dt=1e-4, threshold="gt", if_gain="euler", reset_delay=False, recurrent_bias_at_start=True),
    "norse": dict(dt=1e-3, threshold="gt", if_gain="unit", reset_delay=False, recurrent_bias_at_start=False),
    "spikingjelly": dict(dt=1e-4, threshold="ge", if_gain="euler", reset_delay=False, recurrent_bias_at_start=False,
                         start_at_reset=True),
}
CONVENTIONS = tuple(PRESETS)


def check_convention(convention: Any) -> str | None:
    if convention is None or convention in PRESETS:
        return convention
    raise ValueError(f"convention: expected None (guess from the file) or one of {CONVENTIONS}, got {convention!r}")


def _leaves(graph: nir.NIRGraph) -> list[tuple[str, Any]]:
    out = []
    for name, node in graph.nodes.items():
        out += _leaves(node) if isinstance(node, nir.NIRGraph) else [(name, node)]
    return out


def _all_close(a: Any, b: Any) -> bool:
    try:
        return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-4, atol=0))
    except (TypeError, ValueError):
        return False


def guess(graph: nir.NIRGraph) -> tuple[str, str]:
    """(convention, the trace it was read from)."""
    if isinstance(graph.metadata, dict) and any(str(k).startswith("spikeflow_") for k in graph.metadata):
        return "spikeflow", "spikeflow_* graph metadata"
    leaves = _leaves(graph)
    names = [n for n, _ in leaves]
    if any(n.endswith(".w_rec") for n in names) and any(n.endswith(".lif") for n in names):
        return "snntorch", "recurrent nodes named '<layer>.lif' / '<layer>.w_rec' (snnTorch RLeaky/RSynaptic)"
    if any(isinstance(node, nir.Input) and n.startswith("input_") for n, node in leaves) and any(
            re.fullmatch(r"_\d+", n) for n in names):
        return "spikingjelly", "node names 'input_1', '_0', '_1', ... (SpikingJelly 2 / nirtorch tracer)"
    lifs = [node for _, node in leaves if isinstance(node, (nir.LIF, nir.CubaLIF))]
    if lifs and all(_all_close(n.r, (n.tau if isinstance(n, nir.LIF) else n.tau_mem) / 1e-4) for n in lifs):
        return "snntorch", "every LIF/CubaLIF has r = tau / 1e-4 (snnTorch's fixed dt)"
    spiking = [node for _, node in leaves if isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF))]
    if spiking and all(_all_close(n.r, 1.0) and (not isinstance(n, nir.CubaLIF) or _all_close(n.w_in, 1.0))
                       for n in spiking):
        return "norse", "every neuron has r = 1 (and w_in = 1) (Norse's export)"
    return "nir", "no exporter trace"


def norse_time_scale(graph: nir.NIRGraph, dt: float) -> bool:
    """Norse 1.1.0 writes tau = dt / tau_inv (tau * dt, norse/norse#411): every time constant is then
    below dt, which no Euler reading can run. True when the file looks like that."""
    taus = []
    for _, node in _leaves(graph):
        for f in ("tau", "tau_mem", "tau_syn"):
            if hasattr(node, f):
                taus.append(np.asarray(getattr(node, f), np.float64).ravel())
    if not taus:
        return False
    t = np.concatenate(taus)
    t = t[np.isfinite(t)]
    return bool(t.size) and bool((t < dt).all()) and bool((t >= dt * dt).all())
