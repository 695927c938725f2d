"""NIR export of the layers for convolutional SNNs (spikeflow.layers.norm / dropout / pool).

One mapping function per module type, looked up by ``layer_mapping``; ``fold_for_export``
folds every batch norm into the Conv/Linear before it (NIR has no batch-norm node):

* nn.BatchNorm1d/2d, TDBatchNorm, time-invariant BatchNormThroughTime/StepAffine: folded;
  a batch norm with no Conv/Linear directly before it, or a BNTT whose steps differ, raises;
* SequenceDropout (like nn.Dropout): the identity at inference, left out;
* MaxPool2d: raises (nir 1.0.8, the newest release, has no max-pooling node).
"""

from __future__ import annotations

from typing import Any, Callable

import nir
from torch import nn

from ..layers.dropout import SequenceDropout
from ..layers.norm import BN_TYPES, fold_batchnorm

SKIP = object()  # a mapping's answer for "no node: the layer is the identity at inference"


def fold_for_export(children: list[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """(name, module) pairs with each batch norm folded into the Conv/Linear right before it."""
    out: list[tuple[str, nn.Module]] = []
    for name, m in children:
        if isinstance(m, BN_TYPES) and out and isinstance(out[-1][1], (nn.Conv1d, nn.Conv2d, nn.Linear)):
            prev_name, prev = out[-1]
            try:
                out[-1] = (prev_name, fold_batchnorm(prev, m))
            except ValueError as e:
                raise ValueError(f"module {name!r}: {e}") from None
            continue
        out.append((name, m))
    return out


def _batchnorm(name: str, m: nn.Module) -> Any:
    raise ValueError(f"module {name!r}: {type(m).__name__} can only be exported folded into a Conv/Linear directly "
                     "before it (NIR has no batch-norm node)")


def _dropout(name: str, m: nn.Module) -> Any:
    return SKIP


def _maxpool(name: str, m: nn.Module) -> Any:
    raise ValueError(f"module {name!r}: MaxPool2d has no NIR node (nir {nir.__version__} has SumPool2d and "
                     "AvgPool2d only); use AvgPool2d or SumPool2d to export")


MAPPINGS: dict[type, Callable[[str, nn.Module], Any]] = {
    **{t: _batchnorm for t in BN_TYPES},
    SequenceDropout: _dropout,
    nn.MaxPool2d: _maxpool,
}


def layer_mapping(m: nn.Module) -> Callable[[str, nn.Module], Any] | None:
    """The mapping function for ``m``'s type (None: not one of these layers)."""
    for cls in type(m).__mro__:
        if cls in MAPPINGS:
            return MAPPINGS[cls]
    return None
