"""N-MNIST, SHD and DVS Gesture through tonic, as :class:`~spikeflow.data.events.EventFrames`.

Each loader checks that the extracted files are where tonic looks (``DATA_DIR/<ClassName>/...``)
and raises :class:`~spikeflow.data.base.DataNotFoundError` with the way to get them otherwise;
nothing is ever downloaded unless ``download=True`` is passed (then tonic's own download runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import DataNotFoundError, DatasetInfo, check_limit, check_split
from .events import EventFrames, FrameAugment, frame_transform, open_tonic, require_tonic

SPLITS = ("train", "test")


@dataclass(frozen=True)
class EventSource:
    """Where tonic keeps one data set and how to tell that its extracted files are there."""

    name: str  # spikeflow's name
    tonic_class: str  # attribute of tonic.datasets
    folders: dict[str, str]  # split -> path under DATA_DIR/<tonic_class> that must hold `pattern` files
    pattern: str
    archives: dict[str, str]  # split -> archive file name tonic downloads
    num_classes: int
    default_framing: dict[str, Any]
    how: str  # a sentence on where the data comes from


SOURCES = {
    "nmnist": EventSource(
        "nmnist", "NMNIST", {"train": "Train", "test": "Test"}, "*.bin",
        {"train": "train.zip", "test": "test.zip"}, 10, {"n_time_bins": 30},
        "N-MNIST (Orchard et al. 2015): unzip train.zip/test.zip so that DIR/NMNIST/Train/<digit>/*.bin exist",
    ),
    "shd": EventSource(
        "shd", "SHD", {"train": "shd_train.h5", "test": "shd_test.h5"}, "",
        {"train": "shd_train.h5.zip", "test": "shd_test.h5.zip"}, 20, {"time_window": 10_000},
        "SHD (Cramer et al. 2020, zenkelab.org): unzip shd_train.h5.zip/shd_test.h5.zip into DIR/SHD/",
    ),
    "dvsgesture": EventSource(
        "dvsgesture", "DVSGesture", {"train": "ibmGestureTrain", "test": "ibmGestureTest"}, "*.npy",
        {"train": "ibmGestureTrain.tar.gz", "test": "ibmGestureTest.tar.gz"}, 11, {"time_window": 50_000},
        "DVS Gesture (Amir et al. 2017) in tonic's .npy conversion: extract ibmGestureTrain.tar.gz/"
        "ibmGestureTest.tar.gz into DIR/DVSGesture/",
    ),
}


def missing_message(name: str, data_dir: str | Path, split: str) -> str:
    """One line: what is missing and how to get it (tonic's download, run once with network access)."""
    src = SOURCES[name]
    where = Path(data_dir) / src.tonic_class / src.folders[split]
    train = "train=True" if split == "train" else "train=False"
    return (f"{name} {split} data not found at {where}. {src.how}; or, with network access, run once: "
            f"python -c \"import tonic; tonic.datasets.{src.tonic_class}('{data_dir}', {train})\"")


def data_present(name: str, data_dir: str | Path, split: str) -> bool:
    src = SOURCES[name]
    where = Path(data_dir) / src.tonic_class / src.folders[split]
    if not src.pattern:
        return where.is_file()
    return where.is_dir() and next(where.rglob(src.pattern), None) is not None


def event_dataset(name: str, split: str = "train", *, data_dir: str | Path | None = None, limit: int | None = None,
                  time_window: float | None = None, event_count: int | None = None, n_time_bins: int | None = None,
                  n_event_bins: int | None = None, overlap: float = 0.0, include_incomplete: bool = False,
                  event_transforms: Sequence[Callable[[Any], Any]] = (), cache_dir: str | Path | None = None,
                  augment: FrameAugment | Callable[..., Any] | None = None, squeeze_polarity: bool = True,
                  sensor_size: tuple[int, int, int] | None = None, download: bool = False,
                  **tonic_kwargs: Any) -> EventFrames:
    """One tonic event data set as frames [T, ...] (see :class:`EventFrames`); ``limit`` keeps the first N.

    Framing defaults per data set (N-MNIST 30 time bins, SHD 10 ms windows, DVS Gesture 50 ms
    windows); give one of time_window (µs) / event_count / n_time_bins / n_event_bins to change it.
    ``sensor_size`` overrides tonic's (needed after a Downsample event transform).
    ``tonic_kwargs`` go to the tonic class (e.g. ``first_saccade_only=True`` for N-MNIST).
    """
    if name not in SOURCES:
        raise ValueError(f"name: expected one of {sorted(SOURCES)}, got {name!r}")
    check_split(split, SPLITS)
    limit = check_limit(limit)
    if data_dir is None:
        raise DataNotFoundError(f"{name}: data_dir is required (the folder holding {SOURCES[name].tonic_class}/)")
    tonic = require_tonic()
    src = SOURCES[name]
    cls = getattr(tonic.datasets, src.tonic_class)
    sensor = tuple(sensor_size) if sensor_size is not None else tuple(cls.sensor_size)
    framing = {k: v for k, v in (("time_window", time_window), ("event_count", event_count),
                                 ("n_time_bins", n_time_bins), ("n_event_bins", n_event_bins)) if v is not None}
    transform = frame_transform(sensor, **(framing or src.default_framing), overlap=overlap,
                                include_incomplete=include_incomplete, event_transforms=event_transforms)
    kwargs = {"train": split == "train", "transform": transform, **tonic_kwargs}
    if download:
        source = cls(str(data_dir), **kwargs)  # tonic's own check and download
    else:
        if not data_present(name, data_dir, split):
            raise DataNotFoundError(missing_message(name, data_dir, split))
        source = open_tonic(cls, data_dir, **kwargs)
    framing = framing or src.default_framing
    one_d = sensor[1] == 1
    shape: tuple[int, ...] = (sensor[0],) if one_d and squeeze_polarity and sensor[2] == 1 else (
        (sensor[2], sensor[0]) if one_d else (sensor[2], sensor[1], sensor[0]))
    raw = getattr(source, "classes", None)
    classes = None
    if raw is not None and len(raw):
        classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in raw)
    info = DatasetInfo(name=name, split=split, num_classes=src.num_classes, sample_shape=(-1, *shape),
                       time_major=True, variable_length="time_window" in framing or "event_count" in framing,
                       dt_s=framing["time_window"] * 1e-6 if "time_window" in framing else None,
                       classes=classes)
    return EventFrames(source, info, sensor_size=sensor, cache_dir=cache_dir, augment=augment,
                       squeeze_polarity=squeeze_polarity, limit=limit,
                       cache_options=dict(tonic_kwargs))


def nmnist(split: str = "train", *, data_dir: str | Path | None = None, limit: int | None = None,
           **options: Any) -> EventFrames:
    """N-MNIST (34x34, 2 polarities): frames [T, 2, 34, 34]; options as :func:`event_dataset`."""
    return event_dataset("nmnist", split, data_dir=data_dir, limit=limit, **options)


def shd(split: str = "train", *, data_dir: str | Path | None = None, limit: int | None = None,
        **options: Any) -> EventFrames:
    """Spiking Heidelberg Digits (700 channels): frames [T, 700]; options as :func:`event_dataset`."""
    return event_dataset("shd", split, data_dir=data_dir, limit=limit, **options)


def dvsgesture(split: str = "train", *, data_dir: str | Path | None = None, limit: int | None = None,
               **options: Any) -> EventFrames:
    """IBM DVS Gesture (128x128, 2 polarities): frames [T, 2, 128, 128]; options as :func:`event_dataset`."""
    return event_dataset("dvsgesture", split, data_dir=data_dir, limit=limit, **options)
