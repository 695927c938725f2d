"""``spikeflow report RUN_DIR``: one self-contained HTML page about a training run.

Reads RUN_DIR/metrics.json (written by the Trainer / ``spikeflow train``) and, when the run's
task can rebuild its network (``build_model``, ``test_data``, ``encoder``) and
RUN_DIR/checkpoint.pt exists, loads the weights (``torch.load(weights_only=True)``) and runs
test samples through it. The page holds: loss and accuracy curves, a raster of every neuron
layer on one test sample, firing-rate bars and heat maps, the operation and energy table
(:func:`spikeflow.analysis.report`) and the run's configuration. Images are embedded as
base64 PNG; the page loads nothing from anywhere.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import torch

from .report import COLUMNS, Report, _fmt, report

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; font-size: 15px;
       color: #1d232a; background: #f6f7f9; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 18px 24px 40px; }
h1 { font-size: 24px; margin: 6px 0 2px; }
h2 { font-size: 18px; margin: 26px 0 8px; border-bottom: 1px solid #d6dbe1; padding-bottom: 4px; }
.sub { color: #56606b; margin-bottom: 12px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #d6dbe1; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.card b { display: block; font-size: 20px; }
.card span { color: #56606b; font-size: 13px; }
figure { background: #fff; border: 1px solid #d6dbe1; border-radius: 6px; margin: 8px 0; padding: 8px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #56606b; font-size: 13px; margin-top: 4px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; background: #fff; font-size: 13.5px; }
th, td { border: 1px solid #d6dbe1; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f4; }
td.l, th.l { text-align: left; }
tr.total td { font-weight: bold; background: #f3f6f9; }
.note { color: #56606b; font-size: 13px; max-width: 1100px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
"""


def _png(fig: Any, dpi: int = 100) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(fig: Any, caption: str, alt: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _num(v: Any) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def _energy(pj: float) -> str:
    for unit, scale in (("mJ", 1e9), ("\u00b5J", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _card(label: str, value: str) -> str:
    return f'<div class="card"><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>'


def _ops_table(rep: Report) -> str:
    head = "".join(f'<th class="{"l" if kind == "s" else ""}">{html.escape(h)}</th>' for _, h, kind in COLUMNS)
    body = []
    for row in rep.rows:
        cls = ' class="total"' if row.get("kind") == "total" else ""
        cells = "".join(f'<td class="{"l" if kind == "s" else ""}">{html.escape(_fmt(row.get(k), kind))}</td>'
                        for k, _, kind in COLUMNS)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _config_table(config: dict[str, Any]) -> str:
    rows = "".join(f'<tr><td class="l">{html.escape(str(k))}</td><td class="l">{_num(v)}</td></tr>'
                   for k, v in config.items())
    return f'<div class="scroll"><table><tr><th class="l">option</th><th class="l">value</th></tr>{rows}</table></div>'


def _model_sections(run_dir: Path, metrics: dict[str, Any], samples: int) -> tuple[list[str], list[str]]:
    """(sections, notes): rasters, firing rates, the ops/energy table; notes say what was skipped."""
    from ..train.tasks import TASKS

    task_name, config = metrics.get("task"), metrics.get("config")
    task = TASKS.get(task_name) if isinstance(task_name, str) else None
    checkpoint = run_dir / "checkpoint.pt"
    missing = [m for m in ("build_model", "test_data", "encoder") if task is not None and not hasattr(task, m)]
    if task is None or not isinstance(config, dict) or missing:
        why = (f"task {task_name!r} is not registered" if task is None else
               "metrics.json has no config" if not isinstance(config, dict) else
               f"task {task_name!r} does not provide {', '.join(missing)}")
        return [], [f"No network sections: {why}."]
    if not checkpoint.is_file():
        return [], [f"No network sections: {checkpoint} is missing."]
    from .. import plot
    from .monitor import Monitor
    from .stats import firing_stats

    args = argparse.Namespace(**config)
    model = task.build_model(args)  # type: ignore[union-attr]
    from ..train.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint, map_location="cpu")  # checksum-verified, weights_only=True
    model.load_state_dict(state["model"] if isinstance(state, dict) and "model" in state else state)
    model.eval()
    dataset = task.test_data(args)  # type: ignore[union-attr]
    encode = task.encoder(args)  # type: ignore[union-attr]
    loader = torch.utils.data.DataLoader(dataset, batch_size=min(samples, 256), shuffle=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the spike code draws random numbers: fix them for the page
        x, y = next(iter(loader))
        spikes_in = encode(x)
        with torch.no_grad(), Monitor(model) as mon:
            model(spikes_in)
        rep = report(model, spikes_in)
    stats = firing_stats(mon)
    sections = []
    label = int(y[0])
    fig = plot.raster_layers({"input": spikes_in, **mon.outputs()}, sample=0,
                             title=f"test sample 0 (label {label})")
    sections.append("<h2>Spikes on a test sample</h2>" + _figure(
        fig, f"Raster of the input and of every neuron layer on test sample 0 (label {label}); "
             "one dot per spike.", "raster of each layer"))
    rates = {name: v["rate"] for name, v in stats.items()}
    bars = plot.rate_bars(rates, title=f"mean firing rate over {x.shape[0]} test samples")
    heat = [plot.rate_heatmap(mon.spikes(name), title=f"layer {name}: rate per neuron and step")
            for name in list(stats)[:2]]
    sections.append("<h2>Firing rates</h2>" + _figure(bars, "Fraction of neuron-steps with a spike, per layer.",
                                                       "firing-rate bars")
                    + '<div class="grid2">' + "".join(
                        _figure(h, "Colour: fraction of the test batch that spiked at that neuron and step.",
                                "rate heat map") for h in heat) + "</div>")
    s = rep.summary
    cards = "".join([
        _card("proxy energy / sample", _energy(s['proxy_pj'])),
        _card("memory-inclusive / sample", _energy(s['memory_pj'])),
        _card(f"bit-matched {s['qann_bits']}-bit ANN", _energy(s['qann_pj'])),
        _card("SNN / QANN", f"{s['snn_over_qann']:.3g}x"),
        _card("synaptic input rate", f"{100 * s['effective_rate']:.2f}%"),
        _card("crossover rate", f"{100 * s['crossover_rate']:.2f}%"),
    ])
    mem = rep.assumptions["memory"]
    comp = rep.assumptions["compute"]
    note = (f"Per sample over {s['samples']} test samples, T = {s['steps']}. Proxy: {comp['e_ac']} pJ/AC, "
            f"{comp['e_mac']} pJ/MAC ({comp['source']}). Memory-inclusive: {mem['weight_bits']}-bit weights fetched "
            f"at {mem['weight_pj_per_bit']} pJ/bit per synaptic operation, {mem['state_bits']}-bit state read and "
            f"written every step at {mem['onchip_pj_per_bit']} pJ/bit, spikes moved at {mem['onchip_pj_per_bit']} "
            f"pJ/bit ({mem['source']}). The SNN beats the bit-matched ANN only when its synaptic input rate is below "
            f"the crossover. These are models, not measurements; {rep.assumptions['notes']}.")
    sections.append("<h2>Operations and energy</h2>" + f'<div class="cards">{cards}</div>' + _ops_table(rep)
                    + f'<p class="note">{html.escape(note)}</p>')
    return sections, []


def write_run_report(run_dir: str | Path, out: str | Path | None = None, samples: int = 256) -> Path:
    """Write RUN_DIR/report.html (or ``out``) and return its path."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"run_dir: no metrics.json in {run_dir} (is it an output folder of spikeflow train?)")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples: expected a positive int, got {samples!r}")
    metrics = json.loads(metrics_path.read_text())
    if not isinstance(metrics, dict):
        raise ValueError(f"{metrics_path}: expected a JSON object, got {type(metrics).__name__}")
    from .. import plot

    task = metrics.get("task", "run")
    history = metrics.get("history") or []
    parts = [f"<h1>spikeflow run report: {html.escape(str(task))}</h1>",
             f'<div class="sub">{html.escape(str(run_dir.resolve()))}</div>']
    cards = [_card("test accuracy", "-" if metrics.get("test_accuracy") is None
                   else f"{100 * metrics['test_accuracy']:.2f}%"),
             _card("train accuracy", "-" if metrics.get("train_accuracy") is None
                   else f"{100 * metrics['train_accuracy']:.2f}%"),
             _card("epochs", str(metrics.get("epochs", len(history)))),
             _card("training time", f"{float(metrics.get('seconds', 0.0)):.1f} s")]
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    if history:
        parts.append("<h2>Training curves</h2>" + _figure(plot.training_curves(history),
                                                         "Loss and accuracy per epoch (train and test).",
                                                         "loss and accuracy curves"))
    else:
        parts.append('<p class="note">metrics.json has no per-epoch history.</p>')
    sections, notes = _model_sections(run_dir, metrics, samples)
    parts.extend(sections)
    parts.extend(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    config = metrics.get("config") if isinstance(metrics.get("config"), dict) else {
        k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    parts.append("<h2>Configuration</h2>" + _config_table(config))
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>spikeflow report: {html.escape(str(task))}</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<style>{CSS}</style></head><body><main>{''.join(parts)}</main></body></html>")
    path = Path(out) if out is not None else run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
