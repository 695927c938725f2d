"""snnTorch's ``spikeplot``: raster and trace plots (matplotlib)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["raster", "traces", "spike_count"]


def raster(data: Tensor, ax: Any, **kwargs: Any) -> Any:
    """Scatter of the spikes of ``data`` [T, N] (or [T, ...], flattened): time on x, neuron on y."""
    if not isinstance(data, Tensor):
        raise TypeError(f"data: expected a Tensor [T, N], got {type(data).__name__}")
    if data.dim() < 2:
        raise ValueError(f"data: expected a Tensor [T, N], got shape {tuple(data.shape)}")
    t, n = torch.nonzero(data.detach().reshape(data.shape[0], -1).cpu(), as_tuple=True)
    return ax.scatter(t.numpy(), n.numpy(), **kwargs)


def traces(data: Tensor, spk: Tensor | None = None, dim: tuple[int, int] = (3, 3), spk_height: float = 5,
           titles: Any = None) -> Any:
    """Grid of membrane traces data [T, N] (one panel per neuron), spikes drawn as vertical lines."""
    import matplotlib.pyplot as plt

    data = data.detach().cpu()
    fig, axes = plt.subplots(*dim, sharex=True)
    for i, ax in enumerate(axes.flat[: data.shape[1]]):
        ax.plot(data[:, i].numpy())
        if spk is not None:
            ax.vlines(torch.nonzero(spk[:, i].detach().cpu()).flatten().numpy(), 0, spk_height)
        if titles is not None:
            ax.set_title(titles[i])
    return fig


def spike_count(data: Tensor, fig: Any, ax: Any, labels: Any = None, **kwargs: Any) -> Any:
    """Bar chart of the spike count of each output neuron over data [T, N]."""
    counts = data.detach().reshape(data.shape[0], -1).sum(0).cpu().numpy()
    bars = ax.bar(range(len(counts)), counts, **kwargs)
    if labels is not None:
        ax.set_xticks(range(len(counts)), labels)
    return bars
