"""Single-panel plots: raster, membrane traces, spike-count animation (and saving animations).

matplotlib is imported inside each function (it is slow to import and not needed to train);
every function works with the non-interactive Agg backend and returns the figure (or the
animation) so callers can save it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor


def _as_2d(name: str, data: Any, sample: int | None, layout: str) -> Tensor:
    """Validate a time-major Tensor and return it as [T, N] (selecting ``sample`` first)."""
    if not isinstance(data, Tensor):
        raise TypeError(f"{name}: expected a Tensor {layout}, got {type(data).__name__}")
    if data.dim() == 0:
        raise ValueError(f"{name}: expected a Tensor {layout}, got a scalar")
    data = data.detach().to("cpu")
    if data.dim() == 1:
        data = data[:, None]
    if sample is not None:
        if data.dim() < 3:
            raise ValueError(f"sample: needs {name} with a batch dimension [T, B, ...], got shape {tuple(data.shape)}")
        if not -data.shape[1] <= sample < data.shape[1]:
            raise ValueError(f"sample: expected an index below the batch size {data.shape[1]}, got {sample}")
        data = data[:, sample]
    if data.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one time step, got shape {tuple(data.shape)}")
    return data.reshape(data.shape[0], -1).float()


def _figure_axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is None:
        # A bare Figure (not pyplot): no global figure registry, works with any backend.
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    return ax.figure, ax


def raster(
    spikes: Tensor,
    ax: Any = None,
    *,
    sample: int | None = None,
    marker_size: float = 4.0,
    color: str = "black",
    title: str | None = None,
    dt: float = 1.0,
) -> Any:
    """Raster plot: a dot at (t, n) for every spike.

    spikes: [T, N], or [T, B, ...] with ``sample`` picking one batch entry (without it, every
    dimension after time is flattened into the neuron axis). Nonzero entries are spikes.
    Returns the matplotlib Figure.
    """
    data = _as_2d("spikes", spikes, sample, "[T, N] or [T, B, ...]")
    fig, ax = _figure_axes(ax, (6.0, 3.0))
    t, n = torch.nonzero(data != 0, as_tuple=True)
    ax.scatter((t.float() * dt).numpy(), n.numpy(), s=marker_size, c=color, marker="|" if marker_size > 6 else "o",
               linewidths=0.8)
    ax.set_xlim(-0.5 * dt, (data.shape[0] - 0.5) * dt)
    ax.set_ylim(-0.5, data.shape[1] - 0.5)
    if dt == 1.0:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time step" if dt == 1.0 else "time")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return fig


def traces(
    mem: Tensor,
    spikes: Tensor | None = None,
    ax: Any = None,
    *,
    sample: int | None = None,
    threshold: float | None = None,
    neurons: Sequence[int] | None = None,
    title: str | None = None,
    legend: bool | None = None,
) -> Any:
    """Membrane traces, one line per neuron, with spikes marked as dots on their trace.

    mem: [T] or [T, N] (or [T, B, ...] with ``sample``); spikes: same shape as mem.
    ``neurons`` picks a subset of columns; ``threshold`` draws a dashed line.
    ``legend`` names each neuron, the threshold and the spike marks (default: on for up to
    10 neurons). Returns the matplotlib Figure.
    """
    v = _as_2d("mem", mem, sample, "[T] or [T, N] or [T, B, ...]")
    s = None
    if spikes is not None:
        if not isinstance(spikes, Tensor) or spikes.shape != mem.shape:
            got = tuple(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__
            raise ValueError(f"spikes: expected a Tensor of the same shape as mem {tuple(mem.shape)}, got {got}")
        s = _as_2d("spikes", spikes, sample, "like mem")
    if neurons is not None:
        idx = list(neurons)
        if any(not isinstance(i, int) or not 0 <= i < v.shape[1] for i in idx):
            raise ValueError(f"neurons: expected indices in [0, {v.shape[1]}), got {idx}")
        v = v[:, idx]
        s = None if s is None else s[:, idx]
    fig, ax = _figure_axes(ax, (6.0, 3.0))
    steps = torch.arange(v.shape[0]).numpy()
    names = list(neurons) if neurons is not None else list(range(v.shape[1]))
    marked = False
    for j in range(v.shape[1]):
        (line,) = ax.plot(steps, v[:, j].numpy(), lw=1.0, label=f"neuron {names[j]}")
        if s is not None:
            fired = torch.nonzero(s[:, j] != 0).flatten()
            ax.plot(fired.numpy(), v[fired, j].numpy(), "o", ms=4, color=line.get_color(),
                    label=None if marked else "spike")
            marked = marked or len(fired) > 0
    if threshold is not None:
        ax.axhline(threshold, ls="--", color="gray", lw=0.8, label="threshold")
    if legend or (legend is None and v.shape[1] <= 10):
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    ax.set_xlabel("time step")
    ax.set_ylabel("membrane")
    if title:
        ax.set_title(title)
    return fig


def spike_count_animation(
    spikes: Tensor,
    labels: Sequence[str] | None = None,
    interval: int = 50,
    *,
    sample: int | None = None,
    title: str | None = None,
) -> Any:
    """Bar chart of each neuron's cumulative spike count, one frame per time step.

    spikes: [T, N] (or [T, B, ...] with ``sample``); labels: N bar names.
    Returns a ``matplotlib.animation.FuncAnimation``; ``anim.save("x.gif", writer="pillow")``
    writes a GIF (see :func:`save_animation`).
    """
    from matplotlib import animation

    data = _as_2d("spikes", spikes, sample, "[T, N] or [T, B, ...]")
    counts = torch.cumsum(data, dim=0)
    n = data.shape[1]
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels: expected {n} names (one per neuron), got {len(labels)}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
        raise ValueError(f"interval: expected a positive int (milliseconds), got {interval!r}")
    fig, ax = _figure_axes(None, (6.0, 3.0))
    names = list(labels) if labels is not None else [str(j) for j in range(n)]
    bars = ax.bar(range(n), [0.0] * n, tick_label=names, color="tab:blue")
    ax.set_ylim(0, max(1.0, float(counts[-1].max())) * 1.05)
    ax.set_ylabel("spike count")
    text = ax.set_title(title or "")

    def update(frame: int) -> list[Any]:
        for bar, height in zip(bars, counts[frame].tolist(), strict=True):
            bar.set_height(height)
        text.set_text(f"{title + ': ' if title else ''}step {frame + 1}/{counts.shape[0]}")
        return [*bars, text]

    anim = animation.FuncAnimation(fig, update, frames=counts.shape[0], interval=interval, blit=False)
    return anim


def save_animation(anim: Any, path: str, fps: int = 20) -> str:
    """Save an animation: ``.gif`` through Pillow, ``.mp4`` through ffmpeg.

    Raises ImportError when the writer the suffix needs is not available (Pillow not
    installed; no ffmpeg on the PATH) and ValueError for any other suffix.
    """
    from matplotlib import animation

    if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
        raise ValueError(f"fps: expected a positive int, got {fps!r}")
    suffix = str(path).lower().rsplit(".", 1)[-1] if "." in str(path) else ""
    if suffix == "gif":
        if not animation.writers.is_available("pillow"):
            raise ImportError("save_animation: the 'pillow' writer is unavailable; pip install pillow")
        anim.save(path, writer=animation.PillowWriter(fps=fps))
    elif suffix == "mp4":
        if not animation.writers.is_available("ffmpeg"):
            raise ImportError("save_animation: MP4 needs ffmpeg on the PATH (e.g. apt-get install ffmpeg); "
                              "save a .gif instead")
        anim.save(path, writer=animation.FFMpegWriter(fps=fps))
    else:
        raise ValueError(f"path: expected a .gif or .mp4 file name, got {str(path)!r}")
    return str(path)
