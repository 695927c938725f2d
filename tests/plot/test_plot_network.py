"""Per-layer rasters, traces with threshold and legend, rate heat maps, 2-D spike-frame GIFs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import spikeflow as sf  # noqa: E402
from spikeflow import plot  # noqa: E402

# An animation that is never saved warns when it is garbage-collected (the MP4 test without ffmpeg).
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted")


def test_raster_layers_draws_one_panel_per_layer_with_every_spike(tmp_path):
    torch.manual_seed(0)
    net = sf.Sequential(nn.Linear(6, 40), sf.Leaky(beta=0.9, threshold=0.3), nn.Linear(40, 5), sf.Leaky(beta=0.9,
                                                                                                        threshold=0.3))
    x = (torch.rand(12, 3, 6) < 0.5).float()
    with sf.analysis.Monitor(net) as mon:
        net(x)
    fig = plot.raster_layers(mon, sample=1)
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ["1", "3"], strict=True):
        expected = int(mon.spikes(name)[:, 1].ne(0).sum())
        assert len(ax.collections[0].get_offsets()) == expected and ax.get_title().startswith(f"{name}: {expected}")
    assert fig.axes[-1].get_xlabel() == "time step"
    fig.savefig(tmp_path / "layers.png")
    with pytest.raises(TypeError, match="records"):
        plot.raster_layers({})


def test_traces_show_threshold_spike_marks_and_a_legend():
    mem = torch.tensor([[0.2, 0.1], [0.7, 0.4], [1.1, 0.3], [0.1, 0.9]])
    spk = (mem > 1.0).float()
    fig = plot.traces(mem, spk, threshold=1.0)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["neuron 0", "spike", "neuron 1", "threshold"]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [1.0, 1.0]


def test_rate_heatmap_colours_each_neuron_step_by_the_batch_rate():
    s = torch.zeros(3, 4, 2)
    s[0, :2, 0] = 1.0  # half the batch at step 0, neuron 0
    s[2, :, 1] = 1.0
    fig = plot.rate_heatmap(s)
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (2, 3)  # neurons x steps
    assert image[0, 0] == pytest.approx(0.5) and image[1, 2] == pytest.approx(1.0) and image[1, 0] == 0
    with pytest.raises(ValueError, match="batch"):
        plot.rate_heatmap(torch.ones(3, 2))


def test_spike_frame_animation_saves_a_gif_with_one_frame_per_step(tmp_path):
    from PIL import Image

    frames = (torch.rand(5, 2, 2, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    anim = plot.spike_frame_animation(frames, sample=1, channel=None, title="events")
    path = plot.save_animation(anim, str(tmp_path / "frames.gif"), fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
    with pytest.raises(ValueError, match="channel"):
        plot.spike_frame_animation(frames, sample=0, channel=7)
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        plot.save_animation(anim, str(tmp_path / "x.avi"))


def test_mp4_needs_ffmpeg(tmp_path):
    anim = plot.spike_count_animation(torch.ones(3, 2))
    if plot.ffmpeg_available():
        path = plot.save_animation(anim, str(tmp_path / "c.mp4"), fps=5)
        assert (tmp_path / "c.mp4").stat().st_size > 0 and path.endswith(".mp4")
    else:
        with pytest.raises(ImportError, match="ffmpeg"):
            plot.save_animation(anim, str(tmp_path / "c.mp4"))


def test_training_curves_plot_train_and_test():
    history = [{"epoch": 1, "train_loss": 1.0, "test_loss": 1.2, "train_accuracy": 0.5, "test_accuracy": None},
               {"epoch": 2, "train_loss": 0.5, "test_loss": 0.7, "train_accuracy": 0.8, "test_accuracy": 0.7}]
    fig = plot.training_curves(history)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "test"]
    assert list(acc_ax.lines[1].get_xdata()) == [2]  # the missing test accuracy is skipped
