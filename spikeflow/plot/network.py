"""Whole-network plots: a raster per layer, firing-rate heat maps, animated 2-D spike frames.

Inputs are time-major recordings ``[T, B, ...]`` such as a :class:`spikeflow.analysis.Monitor`
returns (``mon.outputs()``), or ``[T, ...]`` for one sample.
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor

from .basic import _as_2d, _figure_axes, raster


def _records(records: Any) -> dict[str, Tensor]:
    from ..analysis.monitor import Monitor

    if isinstance(records, Monitor):
        records = records.outputs()
    if not isinstance(records, Mapping) or not records:
        raise TypeError(f"records: expected a Monitor or a non-empty dict {{layer name: spikes [T, B, ...]}}, got "
                        f"{type(records).__name__}")
    for name, value in records.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"records[{name!r}]: expected a Tensor [T, B, ...], got {type(value).__name__}")
    return dict(records)


def raster_layers(
    records: Any,
    *,
    sample: int | None = 0,
    max_neurons: int | None = 512,
    marker_size: float | None = None,
    width: float = 8.0,
    title: str | None = None,
) -> Any:
    """One raster panel per layer, stacked, sharing the time axis.

    records: a Monitor or {name: spikes [T, B, ...]}; ``sample`` picks the batch entry (None
    for [T, N] records). Panel heights follow the number of neurons (up to ``max_neurons``
    shown per layer, the first ones). Returns the Figure.
    """
    recs = _records(records)
    data = {name: _as_2d(f"records[{name!r}]", v, sample, "[T, B, ...]") for name, v in recs.items()}
    if max_neurons is not None:
        if isinstance(max_neurons, bool) or not isinstance(max_neurons, int) or max_neurons < 1:
            raise ValueError(f"max_neurons: expected a positive int or None, got {max_neurons!r}")
        data = {k: v[:, :max_neurons] for k, v in data.items()}
    from matplotlib.figure import Figure

    heights = [min(4.0, max(0.8, v.shape[1] / 40)) for v in data.values()]
    fig = Figure(figsize=(width, sum(heights) + 0.6 * len(heights) + 0.4), layout="constrained")
    axes = fig.subplots(len(data), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (name, v) in zip(axes, data.items(), strict=True):
        n = v.shape[1]
        size = marker_size if marker_size is not None else (12.0 if n <= 16 else 4.0 if n <= 128 else 1.5)
        total = recs[name]
        shown = f" (first {n} of {total[0, 0].numel() if sample is not None else total[0].numel()})" if (
            max_neurons is not None and n == max_neurons) else ""
        raster(v, ax=ax, marker_size=size, title=f"{name}: {int((v != 0).sum())} spikes{shown}")
        ax.set_xlabel("")
    axes[-1].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return fig


def rate_heatmap(
    spikes: Tensor,
    ax: Any = None,
    *,
    over: str = "batch",
    sample: int | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    vmax: float | None = None,
) -> Any:
    """Firing-rate heat map: neurons (rows) by time steps (columns).

    spikes [T, B, ...]: ``over="batch"`` colours each (neuron, step) by the fraction of batch
    entries that spiked; with ``sample`` the single sample's spikes are shown instead.
    ``vmax`` tops the colour scale (default: the highest rate, so sparse layers stay visible).
    Returns the Figure (with a colour bar).
    """
    if over != "batch":
        raise ValueError(f"over: expected 'batch', got {over!r}")
    if not isinstance(spikes, Tensor):
        raise TypeError(f"spikes: expected a Tensor [T, B, ...], got {type(spikes).__name__}")
    if sample is not None:
        rates = _as_2d("spikes", spikes, sample, "[T, B, ...]").ne(0).float()
    else:
        if spikes.dim() < 3:
            raise ValueError(f"spikes: expected [T, B, ...] (at least 3 dims) to average over the batch, got shape "
                             f"{tuple(spikes.shape)}; pass a batch dimension or sample=")
        s = spikes.detach().cpu()
        rates = s.ne(0).float().mean(dim=1).reshape(s.shape[0], -1)
    fig, ax = _figure_axes(ax, (7.0, 3.5))
    top = vmax if vmax is not None else max(float(rates.max()), 1e-3)
    image = ax.imshow(rates.T.numpy(), aspect="auto", origin="lower", interpolation="nearest", cmap=cmap,
                      vmin=0.0, vmax=top, extent=(-0.5, rates.shape[0] - 0.5, -0.5, rates.shape[1] - 0.5))
    fig.colorbar(image, ax=ax, label="firing rate" if sample is None else "spike")
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return fig


def rate_bars(rates: Mapping[str, float], ax: Any = None, *, title: str | None = None) -> Any:
    """Horizontal bars of each layer's mean firing rate ({name: rate in [0, 1]}). Returns the Figure."""
    if not isinstance(rates, Mapping) or not rates:
        raise TypeError(f"rates: expected a non-empty dict {{layer: rate}}, got {type(rates).__name__}")
    fig, ax = _figure_axes(ax, (6.0, 0.5 + 0.45 * len(rates)))
    names = list(rates)
    values = [100.0 * float(rates[n]) for n in names]
    bars = ax.barh(range(len(names)), values, color="tab:blue")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.bar_label(bars, labels=[f"{v:.1f}%" for v in values], padding=3, fontsize="small")
    ax.set_xlim(0, max(values + [1.0]) * 1.25)
    ax.set_xlabel("mean firing rate (% of neuron-steps)")
    if title:
        ax.set_title(title)
    return fig


def spike_frame_animation(
    spikes: Tensor,
    *,
    sample: int | None = None,
    channel: int | None = 0,
    interval: int = 100,
    title: str | None = None,
    cmap: str = "gray_r",
) -> Any:
    """Animate 2-D spike frames, one frame per time step.

    spikes: [T, H, W], [T, C, H, W] (``channel`` picks one, None sums them), or with a batch
    dimension [T, B, C, H, W] / [T, B, H, W] and ``sample``. Returns a FuncAnimation; save it
    with :func:`spikeflow.plot.save_animation` (GIF, or MP4 when ffmpeg exists).
    """
    from matplotlib import animation

    if not isinstance(spikes, Tensor):
        raise TypeError(f"spikes: expected a Tensor [T, (B,) (C,) H, W], got {type(spikes).__name__}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
        raise ValueError(f"interval: expected a positive int (milliseconds), got {interval!r}")
    s = spikes.detach().cpu().float()
    if sample is not None:
        if s.dim() < 4:
            raise ValueError(f"sample: needs spikes [T, B, (C,) H, W], got shape {tuple(s.shape)}")
        if not -s.shape[1] <= sample < s.shape[1]:
            raise ValueError(f"sample: expected an index below the batch size {s.shape[1]}, got {sample}")
        s = s[:, sample]
    if s.dim() == 4:
        if channel is None:
            s = s.sum(dim=1)
        else:
            if not -s.shape[1] <= channel < s.shape[1]:
                raise ValueError(f"channel: expected an index below {s.shape[1]} channels, got {channel}")
            s = s[:, channel]
    if s.dim() != 3 or s.shape[0] == 0:
        raise ValueError(f"spikes: expected frames [T, H, W] after choosing sample/channel, got shape {tuple(s.shape)}")
    fig, ax = _figure_axes(None, (4.0, 4.2))
    vmax = max(1.0, float(s.max()))
    image = ax.imshow(s[0].numpy(), cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    text = ax.set_title(title or "")

    def update(frame: int) -> list[Any]:
        image.set_data(s[frame].numpy())
        text.set_text(f"{title + ': ' if title else ''}step {frame + 1}/{s.shape[0]}, "
                      f"{int((s[frame] != 0).sum())} spikes")
        return [image, text]

    update(0)
    return animation.FuncAnimation(fig, update, frames=s.shape[0], interval=interval, blit=False)


def ffmpeg_available() -> bool:
    """True when matplotlib can write MP4 (ffmpeg on the PATH)."""
    from matplotlib import animation

    return bool(animation.writers.is_available("ffmpeg"))


__all__ = ["ffmpeg_available", "raster_layers", "rate_bars", "rate_heatmap", "spike_frame_animation"]
