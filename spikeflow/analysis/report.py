"""``report(model, data)``: per-layer activity, operation counts and energy as a table.

The result is a :class:`Report`: ``rows`` (a list of dicts, one per layer plus a total),
``summary`` (the QANN baseline and crossover), ``assumptions`` (every cost and its source);
``str(report)`` is an aligned text table, ``report.to_dict()`` / ``report.to_json()`` the
machine forms. No pandas.

All figures are per sample (totals over every sample of ``data`` divided by their number).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

from .energy import (
    DEFAULT_COMPUTE,
    DEFAULT_MEMORY,
    ComputeCosts,
    MemoryCosts,
    crossover_rate,
    memory_energy,
    proxy_energy,
    qann_energy,
)
from .ops import LayerOps, OpCounter

COLUMNS: list[tuple[str, str, str]] = [
    # (key, header, format)
    ("layer", "layer", "s"),
    ("type", "type", "s"),
    ("neurons", "neurons", "d"),
    ("in_rate", "in rate", "%"),
    ("rate", "out rate", "%"),
    ("acs", "ACs", "g"),
    ("macs", "MACs", "g"),
    ("dense", "dense ops", "g"),
    ("updates", "updates", "g"),
    ("params", "params", "d"),
    ("state_bytes", "state B", "d"),
    ("proxy_pj", "proxy pJ", "g"),
    ("memory_pj", "mem-incl pJ", "g"),
]


@dataclass
class Report:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    assumptions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "summary": dict(self.summary),
                "assumptions": dict(self.assumptions)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=float)

    def table(self) -> str:
        """The rows as an aligned text table."""
        return format_table(self.rows, COLUMNS)

    def __str__(self) -> str:
        s = self.summary
        lines = [
            self.table(),
            "",
            f"samples {s['samples']}, T = {s['steps']}; per sample: proxy {_fmt(s['proxy_pj'], 'g')} pJ, "
            f"memory-inclusive {_fmt(s['memory_pj'], 'g')} pJ ({_fmt(s['memory_over_proxy'], 'g')}x the proxy)",
            f"bit-matched {s['qann_bits']}-bit ANN: {_fmt(s['qann_pj'], 'g')} pJ; SNN / QANN = "
            f"{_fmt(s['snn_over_qann'], 'g')}; synaptic input rate {_fmt(s['effective_rate'], '%')}, "
            f"crossover {_fmt(s['crossover_rate'], '%')} (the SNN wins below it: "
            f"{'yes' if s['snn_wins'] else 'no'})",
            "costs: proxy " + self.assumptions.get("compute", {}).get("source", "")
            + "; memory model " + self.assumptions.get("memory", {}).get("source", ""),
        ]
        return "\n".join(lines)


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "%":
        return f"{100 * value:.2f}%"
    if kind == "d":
        return f"{int(value):,}"
    if kind == "g":
        v = float(value)
        if v == 0:
            return "0"
        if abs(v) >= 1e6 or abs(v) < 1e-2:
            return f"{v:.3g}"
        return f"{v:,.1f}" if v != int(v) else f"{int(v):,}"
    return str(value)


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Aligned text table of ``rows`` (text left-aligned, numbers right-aligned)."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([_fmt(row.get(key), kind) for key, _, kind in columns])
    widths = [max(len(r[j]) for r in cells) for j in range(len(columns))]
    lines = []
    for i, r in enumerate(cells):
        parts = [c.ljust(w) if columns[j][2] == "s" else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths,
                                                                                                   strict=True))]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _batches(data: Any, encode: Callable[[Tensor], Tensor] | None, max_batches: int | None) -> Iterable[Tensor]:
    if isinstance(data, Tensor):
        items: Iterable[Any] = [data]
    else:
        try:
            items = iter(data)
        except TypeError:
            raise TypeError(f"data: expected a Tensor [T, B, ...] or an iterable of batches, got "
                            f"{type(data).__name__}") from None
    for i, item in enumerate(items):
        if max_batches is not None and i >= max_batches:
            return
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, Tensor):
            raise TypeError(f"data: batch {i} is {type(x).__name__}, expected a Tensor (or an (inputs, targets) pair)")
        if encode is not None:
            x = encode(x)
        if x.dim() < 3:
            raise ValueError(f"data: batch {i} has shape {tuple(x.shape)}; expected time-major [T, B, ...] "
                             "(pass encode= to turn [B, ...] inputs into spikes)")
        yield x


def _layer_row(r: LayerOps, samples: int, compute: ComputeCosts, memory: MemoryCosts) -> dict[str, Any]:
    per = float(samples)
    mem = memory_energy(r, memory)
    row: dict[str, Any] = {
        "layer": r.name,
        "type": r.type,
        "kind": r.kind,
        "neurons": r.neurons if r.kind == "neuron" else None,
        "in_rate": (r.in_events / r.in_numel) if r.kind == "synapse" and r.in_numel else None,
        "rate": (r.spikes / r.out_numel) if r.kind == "neuron" and r.spiking and r.out_numel else None,
        "acs": r.acs / per,
        "macs": r.macs / per,
        "dense": r.dense / per,
        "updates": r.updates / per if r.kind == "neuron" else None,
        "spikes": r.spikes / per if r.kind == "neuron" and r.spiking else None,
        "params": r.params,
        "param_bytes": r.param_bytes,
        "state_bytes": r.state_bytes if r.kind == "neuron" else None,
        "proxy_pj": proxy_energy(r, compute) / per,
        "memory_pj": mem["total"] / per,
        **{f"memory_{k}_pj": v / per for k, v in mem.items() if k != "total"},
    }
    return row


def report(
    model: nn.Module,
    data: Any,
    *,
    encode: Callable[[Tensor], Tensor] | None = None,
    compute: ComputeCosts = DEFAULT_COMPUTE,
    memory: MemoryCosts = DEFAULT_MEMORY,
    max_batches: int | None = None,
    **forward_kwargs: Any,
) -> Report:
    """Run ``model`` on ``data`` (no gradients, eval mode kept as is) and tabulate per layer.

    data: spikes [T, B, ...], or an iterable of batches (Tensors or (inputs, targets) pairs,
    turned into [T, B, ...] by ``encode`` when given). Rows are per sample.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    samples = 0
    steps: set[int] = set()
    with torch.no_grad(), OpCounter(model) as counter:
        for x in _batches(data, encode, max_batches):
            model(x, **forward_kwargs)
            samples += int(x.shape[1])
            steps.add(int(x.shape[0]))
    if samples == 0:
        raise ValueError("data: yielded no batches")
    if len(steps) != 1:
        raise ValueError(f"data: batches have different numbers of steps {sorted(steps)}; the QANN baseline "
                         "needs one T")
    layers = counter.layers
    if not layers:
        raise ValueError("model: no Linear/Conv or neuron module ran; nothing to count")
    t = steps.pop()
    rows = [_layer_row(r, samples, compute, memory) for r in layers]
    total = {"layer": "total", "type": "", "kind": "total"}
    for key in ("acs", "macs", "dense", "updates", "spikes", "params", "param_bytes", "state_bytes", "proxy_pj",
                "memory_pj", "memory_compute_pj", "memory_weights_pj", "memory_state_pj", "memory_spikes_pj"):
        total[key] = sum(r[key] for r in rows if r.get(key) is not None)
    total["neurons"] = sum(r["neurons"] for r in rows if r["neurons"] is not None)
    spiking = [r for r in layers if r.kind == "neuron" and r.spiking]
    total["rate"] = (sum(r.spikes for r in spiking) / sum(r.out_numel for r in spiking)) if spiking else None
    total["in_rate"] = None
    rows.append(total)
    qann = qann_energy(layers, samples, t, memory)
    dense = sum(r.dense for r in layers)
    summary = {
        "samples": samples,
        "steps": t,
        "proxy_pj": total["proxy_pj"],
        "memory_pj": total["memory_pj"],
        "memory_over_proxy": total["memory_pj"] / total["proxy_pj"] if total["proxy_pj"] else float("inf"),
        "qann_bits": int(qann["bits"]),
        "qann_pj": qann["total"],
        "snn_over_qann": total["memory_pj"] / qann["total"],
        "effective_rate": sum(r.synaptic_ops for r in layers) / dense if dense else 0.0,
        "crossover_rate": crossover_rate(layers, samples, t, memory),
        "hidden_rate": total["rate"],
    }
    summary["snn_wins"] = bool(total["memory_pj"] < qann["total"])
    # NeuroBench's names: synaptic operations per sample, activation sparsity over every sample.
    neuron_rows = [r for r in layers if r.kind == "neuron"]
    out_numel = sum(r.out_numel for r in neuron_rows)
    summary["effective_acs"] = total["acs"]
    summary["effective_macs"] = total["macs"]
    summary["dense_ops"] = total["dense"]
    summary["activation_sparsity"] = 1.0 - sum(r.spikes for r in neuron_rows) / out_numel if out_numel else None
    assumptions = {"compute": asdict(compute), "memory": asdict(memory),
                   "notes": "per sample; biases, pooling and normalisation not counted; one weight fetch per "
                            "synaptic operation (no reuse) in both the SNN and the QANN; crossover assumes one "
                            "average spike rate for every synapse input (Yan et al. 2024)"}
    return Report(rows, summary, assumptions)
