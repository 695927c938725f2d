"""Event data from tonic as time-major float tensors: frames, caching, augmentation, collation.

tonic (``pip install --no-deps tonic==1.7.0 && pip install 'spikeflow[tonic]'``)
reads the files and bins events with its own
``ToFrame``; this module adds what a training loop needs on top:

    frame_transform   event transforms (tonic's Denoise, RefractoryPeriod, ...) then tonic's ToFrame
    EventFrames       dataset: tonic sample -> frames float32 [T, P, H, W] (2-D sensors) or [T, X]
                      (1-D sensors with one polarity, e.g. SHD), optional disk cache and augmentation
    cache_path_for    cache folder named by a hash of the transform (tonic's DiskCachedDataset
                      cannot tell that a transform changed)
    FrameAugment      seeded augmentation: one torch.Generator per (seed, epoch, index), so a sample's
                      augmentation does not depend on workers, ranks or iteration order
    pad_time_major    collate: variable-length [T_i, ...] samples -> x [T_max, B, ...], y [B], mask [T_max, B]

Map-style and index-deterministic, so ``DistributedSampler`` and seeded ``DataLoader`` shuffling apply.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .base import DatasetInfo

FRAMINGS = ("time_window", "event_count", "n_time_bins", "n_event_bins")


def require_tonic() -> Any:
    """Import tonic or raise ImportError with the install line."""
    try:
        import tonic
    except ImportError as err:
        raise ImportError(
            "event data sets need tonic: pip install --no-deps tonic==1.7.0 && pip install 'spikeflow[tonic]' "
            "(its import-time dependencies)"
        ) from err
    return tonic


class FrameTransform:
    """events -> each event transform in order -> tonic ``ToFrame``; picklable, with a repr naming every parameter.

    Unlike ``tonic.transforms.Compose`` (which returns the empty event array as it is when a
    filter removes every event), ToFrame always runs, so the result is always frames.
    """

    def __init__(self, event_transforms: Sequence[Callable[[Any], Any]], to_frame: Any) -> None:
        self.event_transforms = tuple(event_transforms)
        self.to_frame = to_frame

    def __call__(self, events: Any) -> Any:
        for t in self.event_transforms:
            events = t(events)
        return self.to_frame(events)

    def __repr__(self) -> str:
        return f"FrameTransform(event_transforms={list(self.event_transforms)!r}, to_frame={self.to_frame!r})"


def frame_transform(sensor_size: tuple[int, int, int], *, time_window: float | None = None,
                    event_count: int | None = None, n_time_bins: int | None = None,
                    n_event_bins: int | None = None, overlap: float = 0.0, include_incomplete: bool = False,
                    event_transforms: Sequence[Callable[[Any], Any]] = ()) -> FrameTransform:
    """``FrameTransform(event_transforms, tonic.transforms.ToFrame(sensor_size, <one framing>))``.

    Exactly one framing: ``time_window`` (µs per frame), ``event_count`` (events per frame),
    ``n_time_bins`` or ``n_event_bins`` (number of frames). ``event_transforms`` run first, in
    order (e.g. ``tonic.transforms.Denoise(filter_time=10000)``, ``RefractoryPeriod(delta=...)``).
    """
    tonic = require_tonic()
    given = {k: v for k, v in (("time_window", time_window), ("event_count", event_count),
                               ("n_time_bins", n_time_bins), ("n_event_bins", n_event_bins)) if v is not None}
    if len(given) != 1:
        raise ValueError(f"framing: expected exactly one of {FRAMINGS}, got {sorted(given) or 'none'}")
    (name, value), = given.items()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite positive number, got {value!r}")
    if name != "time_window" and (not isinstance(value, int)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    for t in event_transforms:
        if not callable(t):
            raise TypeError(f"event_transforms: expected callables (tonic transforms), got {type(t).__name__}")
        if sensor_size[1] == 1 and isinstance(t, (tonic.transforms.Denoise, tonic.transforms.RefractoryPeriod)):
            raise ValueError(f"event_transforms: tonic's {type(t).__name__} needs 2-D events (x and y); "
                             f"sensor_size {tuple(sensor_size)} is 1-D")
    to_frame = tonic.transforms.ToFrame(sensor_size=tuple(sensor_size), overlap=overlap,
                                        include_incomplete=include_incomplete, **given)
    return FrameTransform(event_transforms, to_frame)


def transform_key(*parts: object) -> str:
    """12 hex digits of sha1 over the reprs of ``parts`` (transforms, data set name, split, options).

    A repr holding a memory address (``<... at 0x...>``) cannot name a cache: ValueError.
    """
    text = "|".join(repr(p) for p in parts)
    if " at 0x" in text:
        raise ValueError(
            "cache: a transform's repr holds a memory address, so a cache named by it could not be found again; "
            f"give the transform a __repr__ that lists its parameters (got {text[:200]!r})"
        )
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def cache_path_for(root: str | Path, name: str, split: str, transform: Any, **options: object) -> Path:
    """``root/<name>-<split>-<hash of transform, options, tonic version>``."""
    tonic = require_tonic()
    key = transform_key(transform, name, split, sorted(options.items()), tonic.__version__)
    return Path(root) / f"{name}-{split}-{key}"


class FrameAugment:
    """Seeded augmentation of frames: a random shift along the spatial axes and binomial thinning.

    ``max_shift``: each sample is shifted by an integer in [-max_shift, max_shift] along every
    spatial axis (X for [T, X]; H and W for [T, P, H, W]), zero-filled. ``drop``: each event count
    n becomes Binomial(n, 1 - drop). The generator is seeded from (seed, epoch, index): call
    :meth:`set_epoch` each epoch (as with DistributedSampler) for fresh draws.
    """

    def __init__(self, max_shift: int = 0, drop: float = 0.0, seed: int = 0) -> None:
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift: expected an int >= 0, got {max_shift!r}")
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 <= drop < 1:
            raise ValueError(f"drop: expected a number in [0, 1), got {drop!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
        self.max_shift, self.drop, self.seed, self.epoch = max_shift, float(drop), seed, 0

    def __repr__(self) -> str:
        return f"FrameAugment(max_shift={self.max_shift}, drop={self.drop}, seed={self.seed})"

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def generator(self, index: int) -> torch.Generator:
        digest = hashlib.sha1(f"{self.seed}/{self.epoch}/{int(index)}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))

    def __call__(self, frames: Tensor, index: int) -> Tensor:
        g = self.generator(index)
        if self.drop > 0:
            frames = torch.binomial(frames, torch.full_like(frames, 1.0 - self.drop), generator=g)
        if self.max_shift > 0:
            axes = (1,) if frames.dim() == 2 else tuple(range(frames.dim() - 2, frames.dim()))
            for ax in axes:
                s = int(torch.randint(-self.max_shift, self.max_shift + 1, (1,), generator=g))
                frames = _shift(frames, s, ax)
        return frames


def _shift(x: Tensor, s: int, axis: int) -> Tensor:
    """Shift x by s along axis, filling with zeros (no wrap-around)."""
    if s == 0:
        return x
    out = torch.zeros_like(x)
    n = x.shape[axis]
    if abs(s) >= n:
        return out
    src = x.narrow(axis, 0, n - s) if s > 0 else x.narrow(axis, -s, n + s)
    out.narrow(axis, s, n - s).copy_(src) if s > 0 else out.narrow(axis, 0, n + s).copy_(src)
    return out


_PATCH_LOCK = threading.Lock()


def open_tonic(cls: type, save_to: str | Path, **kwargs: Any) -> Any:
    """Construct the real tonic data set ``cls`` on files already on disk, never downloading.

    Callers check the files first (see ``spikeflow.data.tonic_sets``); tonic's own check also wants
    the downloaded archive and a full-size file count, so it is bypassed here (as tonic's tests do).
    """
    with _PATCH_LOCK, mock.patch.object(cls, "_check_exists", return_value=True), \
            mock.patch.object(cls, "download", side_effect=RuntimeError("spikeflow never downloads implicitly")):
        return cls(str(save_to), **kwargs)


class EventFrames(Dataset):
    """tonic data set (whose ``transform`` makes frames) -> (frames float32 [T, ...], label int64).

    source: a tonic data set built with ``transform=frame_transform(...)``.
    cache_dir: if given, frames are cached in ``cache_path_for(cache_dir, ...)`` through tonic's
        DiskCachedDataset (before augmentation, so augmentation still changes every epoch).
    squeeze_polarity: drop the P axis of [T, P, X] frames from 1-D sensors (sensor_size (X, 1, 1)).
    augment: a :class:`FrameAugment` (or any ``f(frames, index) -> frames``) applied after the cache.
    limit: keep only the first ``limit`` samples.
    """

    def __init__(self, source: Any, info: DatasetInfo, *, sensor_size: tuple[int, int, int],
                 cache_dir: str | Path | None = None, augment: Callable[[Tensor, int], Tensor] | None = None,
                 squeeze_polarity: bool = True, cache_options: dict[str, object] | None = None,
                 limit: int | None = None) -> None:
        self.source = source
        self.limit = limit
        self.info = info
        self.sensor_size = tuple(int(s) for s in sensor_size)
        self.one_d = self.sensor_size[1] == 1
        self.squeeze_polarity = bool(squeeze_polarity) and self.one_d
        self.augment = augment
        self.cache_path: Path | None = None
        self._data = source
        if cache_dir is not None:
            tonic = require_tonic()
            self.cache_path = cache_path_for(cache_dir, info.name, info.split, source.transform,
                                             **(cache_options or {}))
            self._data = tonic.DiskCachedDataset(source, cache_path=str(self.cache_path))

    def __len__(self) -> int:
        n = len(self.source)
        return n if self.limit is None else min(n, self.limit)

    @property
    def targets(self) -> Tensor:
        """Labels int64 [len(self)] (read from the tonic data set, without loading events)."""
        targets = getattr(self.source, "targets", None)
        if targets is None or len(targets) == 0:  # SHD keeps its labels in the HDF5 file
            import h5py

            with h5py.File(Path(self.source.location_on_system) / self.source.data_filename, "r") as f:
                targets = f["labels"][()]
        return torch.as_tensor(np.asarray(targets)[: len(self)], dtype=torch.int64)

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the augmentation (fresh draws each epoch, same on every rank)."""
        if hasattr(self.augment, "set_epoch"):
            self.augment.set_epoch(epoch)  # type: ignore[union-attr]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index: expected 0 <= index < {len(self)}, got {index}")
        frames, target = self._data[index]
        x = torch.as_tensor(np.asarray(frames)).float()
        if self.one_d and x.dim() == 4:  # tonic's empty-recording frames are [T, P, X, 1]
            x = x.reshape(x.shape[0], x.shape[1], -1)
        if self.squeeze_polarity and x.dim() == 3 and x.shape[1] == 1:
            x = x.squeeze(1)  # [T, 1, X] -> [T, X]
        if self.augment is not None:
            x = self.augment(x, index)
        return x, torch.as_tensor(int(np.asarray(target)), dtype=torch.int64)


class Batch(NamedTuple):
    """x [T_max, B, ...] float32 (zero-padded), y [B] int64, mask [T_max, B] bool (True = real step)."""

    x: Tensor
    y: Tensor
    mask: Tensor


def pad_time_major(batch: Sequence[tuple[Tensor, Tensor]]) -> Batch:
    """Collate (x [T_i, ...], y) samples into a :class:`Batch`, padding with zeros after each end."""
    if len(batch) == 0:
        raise ValueError("batch: expected at least one sample, got none")
    xs = [torch.as_tensor(x) for x, _ in batch]
    shape = xs[0].shape[1:]
    for i, x in enumerate(xs):
        if x.dim() < 1 or x.shape[1:] != shape:
            want = ", ".join(map(str, shape))
            raise ValueError(f"batch: sample {i} has shape {tuple(x.shape)}, expected [T, {want}]")
    lengths = torch.tensor([x.shape[0] for x in xs])
    t_max = int(lengths.max())
    out = xs[0].new_zeros((t_max, len(xs), *shape), dtype=torch.float32)
    for b, x in enumerate(xs):
        out[: x.shape[0], b] = x
    mask = torch.arange(t_max)[:, None] < lengths[None, :]
    y = torch.stack([torch.as_tensor(t, dtype=torch.int64) for _, t in batch])
    return Batch(out, y, mask)
