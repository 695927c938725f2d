"""Datasets with one signature: ``loader(split="train", *, limit=None, **options)`` -> a Dataset of
(x float32, y int64) with ``.info`` (:class:`DatasetInfo`) and ``.targets``; ``load(name, ...)`` by name.

Static sets (``digits``, ``mnist5k``, ``yinyang``) give x [features...] (pixels in [0, 1]) and
``.tensors``; sequence sets (``spoken_digits``, and ``nmnist``, ``shd``, ``dvsgesture`` through
tonic, which also take ``data_dir``) give time-major x [T, features...]. Batch sequences with
:func:`pad_time_major` (x [T, B, ...], y [B], mask [T, B]).
"""

from __future__ import annotations

from typing import Any

from .base import DataNotFoundError, DatasetInfo, TensorSet
from .digits import digits, digits_tensors
from .events import Batch, EventFrames, FrameAugment, cache_path_for, frame_transform, pad_time_major
from .mnist5k import latency_times, mnist5k
from .spoken_digits import spoken_digits
from .tonic_sets import dvsgesture, event_dataset, nmnist, shd
from .yinyang import encode_times, yinyang

DATASETS = {
    "digits": digits,
    "mnist5k": mnist5k,
    "yinyang": yinyang,
    "spoken-digits": spoken_digits,
    "nmnist": nmnist,
    "shd": shd,
    "dvsgesture": dvsgesture,
}


def load(name: str, split: str = "train", **options: Any) -> Any:
    """``DATASETS[name](split, **options)``: every loader returns the same kind of object."""
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](split, **options)


__all__ = [
    "DATASETS", "Batch", "DataNotFoundError", "DatasetInfo", "EventFrames", "FrameAugment", "TensorSet",
    "cache_path_for", "digits", "digits_tensors", "dvsgesture", "encode_times", "event_dataset", "frame_transform",
    "latency_times", "load", "mnist5k", "nmnist", "pad_time_major", "shd", "spoken_digits", "yinyang",
]
