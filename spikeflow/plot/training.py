"""Training curves from a run's history (the ``history`` list of metrics.json)."""

from __future__ import annotations

import math
from typing import Any, Sequence


def training_curves(history: Sequence[dict[str, Any]], *, title: str | None = None) -> Any:
    """Loss (left) and accuracy (right) per epoch, train and test. Returns the Figure."""
    if not isinstance(history, (list, tuple)) or not history or not all(isinstance(h, dict) for h in history):
        raise ValueError("history: expected a non-empty list of per-epoch dicts (metrics.json's 'history')")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    fig = Figure(figsize=(9.0, 3.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, metric, label in ((loss_ax, "loss", "loss"), (acc_ax, "accuracy", "accuracy")):
        for split, style in (("train", "-o"), ("test", "-s")):
            values = [h.get(f"{split}_{metric}") for h in history]
            points = [(e, float(v)) for e, v in zip(epochs, values, strict=True)
                      if isinstance(v, (int, float)) and not math.isnan(float(v))]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, ms=3, label=split)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
