"""The one kind of object every spikeflow data set returns, and shared argument checks.

Every loader (``digits``, ``mnist5k``, ``yinyang``, ``spoken_digits``, ``nmnist``, ``shd``,
``dvsgesture``) is called as ``loader(split="train", *, data_dir=None, limit=None, ...)`` and
returns a map-style ``torch.utils.data.Dataset`` whose item ``i`` is ``(x, y)``: ``x`` a float32
tensor (static data: ``[features...]``; sequences: time-major ``[T, features...]``), ``y`` an
int64 scalar tensor. Each has ``.info`` (a :class:`DatasetInfo`) and ``.targets`` (int64 [N]).
Pixel data are in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import TensorDataset


class DataNotFoundError(FileNotFoundError):
    """The data set's files are not on disk (and spikeflow never downloads behind your back)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set's samples.

    sample_shape: shape of one x; time_major: x is [T, ...] (T may vary between samples when
    ``variable_length``); dt_s: seconds per time step (None for static data).
    """

    name: str
    split: str
    num_classes: int
    sample_shape: tuple[int, ...]
    time_major: bool = False
    variable_length: bool = False
    dt_s: float | None = None
    classes: tuple[str, ...] | None = None

    @property
    def features(self) -> int:
        """Number of input features per time step (static data: per sample)."""
        shape = self.sample_shape[1:] if self.time_major else self.sample_shape
        n = 1
        for s in shape:
            n *= int(s)
        return n


class TensorSet(TensorDataset):
    """An in-memory data set: (x float32, y int64) pairs with ``.info``; ``.tensors == (x, y)``."""

    def __init__(self, x: Tensor, y: Tensor, *, info: DatasetInfo) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a float tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
            raise ValueError(f"y: expected int64 labels [{len(x)}], got {getattr(y, 'dtype', type(y))} "
                             f"{tuple(getattr(y, 'shape', ()))}")
        super().__init__(x.float(), y)
        self.info = info

    @property
    def targets(self) -> Tensor:
        return self.tensors[1]


def check_split(split: object, splits: Sequence[str]) -> str:
    if split not in splits:
        raise ValueError(f"split: expected one of {tuple(splits)}, got {split!r}")
    return str(split)


def check_limit(limit: object) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: expected a positive int or None, got {limit!r}")
    return limit  # type: ignore[return-value]
