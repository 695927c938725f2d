"""Pooling and flattening for spike maps (applied to every step; time is folded into the batch).

SumPool2d (NIR SumPool2d) is the window sum, i.e. average pooling without the division.
Max pooling of spikes outputs 1 where any input in the window spiked (an OR); average
pooling outputs the fraction that spiked. NIR (up to nir 1.0.8) has no max-pooling node, so
networks with MaxPool2d cannot be exported; AvgPool2d and SumPool2d can.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


def _pair(name: str, value: int | tuple[int, int]) -> tuple[int, int]:
    v = (value, value) if isinstance(value, int) else tuple(int(a) for a in value)
    if len(v) != 2 or any(a < 0 for a in v):
        raise ValueError(f"{name}: expected an int or a pair of non-negative ints, got {value!r}")
    return v  # type: ignore[return-value]


class SumPool2d(nn.Module):
    """y[c, i, j] = sum of x[c] over the (zero padded) window. x: [N, C, H, W] -> [N, C, Ho, Wo]."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride)
        self.padding = _pair("padding", padding)
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"kernel_size and stride must be >= 1, got {self.kernel_size}, {self.stride}")

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, count_include_pad=True,
                            divisor_override=1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(nn.MaxPool2d):
    """torch's MaxPool2d on [N, C, H, W] (time folded into N); on spikes, an OR over the window."""


class AvgPool2d(nn.AvgPool2d):
    """torch's AvgPool2d on [N, C, H, W] (time folded into N); exported to NIR AvgPool2d."""


class Flatten(nn.Flatten):
    """Flatten every sample: [N, C, H, W] -> [N, C*H*W] (inside Sequential N = T*B)."""

    def __init__(self) -> None:
        super().__init__(start_dim=1, end_dim=-1)
