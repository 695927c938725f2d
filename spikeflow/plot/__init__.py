"""Plots of spiking activity: rasters, membrane traces, firing-rate maps, animations, curves.

matplotlib is imported inside each function (it is slow to import and not needed to train);
every function works with the non-interactive Agg backend and returns the figure (or the
animation) so callers can save it. Animations save as GIF (Pillow) or MP4 (ffmpeg) with
:func:`save_animation`.
"""

from .basic import raster, save_animation, spike_count_animation, traces
from .network import ffmpeg_available, raster_layers, rate_bars, rate_heatmap, spike_frame_animation
from .training import training_curves

__all__ = [
    "ffmpeg_available", "raster", "raster_layers", "rate_bars", "rate_heatmap", "save_animation",
    "spike_count_animation", "spike_frame_animation", "traces", "training_curves",
]
