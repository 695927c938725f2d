"""Raster, trace and spike-count plots (Agg backend, no display needed)."""

from __future__ import annotations

import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from spikeflow import plot  # noqa: E402


def test_raster_places_one_dot_per_spike(tmp_path):
    spikes = torch.zeros(6, 2, 4)
    spikes[1, 0, 2] = spikes[4, 0, 3] = spikes[5, 1, 0] = 1.0
    fig = plot.raster(spikes, sample=0)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert sorted(map(tuple, offsets.tolist())) == [(1.0, 2.0), (4.0, 3.0)]
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0


def test_raster_draws_into_a_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot.raster(torch.ones(3, 5), ax=ax, title="x") is fig
    assert ax.get_title() == "x" and len(ax.collections[0].get_offsets()) == 15


def test_traces_mark_spikes_and_threshold():
    mem = torch.linspace(0, 2, 10)[:, None].repeat(1, 3)
    spikes = (mem > 1).float()
    fig = plot.traces(mem, spikes, threshold=1.0, neurons=[0, 2])
    lines = fig.axes[0].lines
    assert len(lines) == 2 * 2 + 1  # a trace and its spike markers per neuron, plus the threshold
    assert len(lines[1].get_xdata()) == int(spikes[:, 0].sum())


def test_spike_count_animation_counts_and_saves_a_gif(tmp_path):
    spikes = torch.zeros(4, 3)
    spikes[:, 1] = 1.0
    spikes[2, 0] = 1.0
    anim = plot.spike_count_animation(spikes, labels=["a", "b", "c"], interval=10)
    from matplotlib import animation

    assert isinstance(anim, animation.FuncAnimation)
    anim._func(3)  # last frame: cumulative counts
    heights = [bar.get_height() for bar in anim._fig.axes[0].patches]
    assert heights == [1.0, 4.0, 0.0]
    if animation.writers.is_available("pillow"):
        path = plot.save_animation(anim, str(tmp_path / "counts.gif"), fps=5)
        assert open(path, "rb").read(3) == b"GIF"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plot.raster([[0, 1]]), "spikes: expected a Tensor"),
        (lambda: plot.raster(torch.tensor(1.0)), "scalar"),
        (lambda: plot.raster(torch.ones(3, 4), sample=0), "sample: needs spikes with a batch"),
        (lambda: plot.raster(torch.ones(3, 2, 4), sample=5), "sample: expected an index below the batch size 2"),
        (lambda: plot.traces(torch.ones(5, 2), torch.ones(5, 3)), "spikes: expected a Tensor of the same shape"),
        (lambda: plot.traces(torch.ones(5, 2), neurons=[4]), "neurons"),
        (lambda: plot.spike_count_animation(torch.ones(5, 2), labels=["a"]), "labels: expected 2"),
        (lambda: plot.spike_count_animation(torch.ones(5, 2), interval=0), "interval"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
