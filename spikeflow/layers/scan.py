"""The gated linear recurrence h_t = f_t * h_{t-1} + x_t, by a chunked parallel scan.

Each step is the affine map h -> f_t h + x_t. Inside a chunk of C steps the maps are composed
by doubling (Hillis-Steele): after the round with offset k, element t holds the composition of
the steps (t - 2k, t], so log2(C) rounds of whole-tensor products give every prefix
(a_t = prod f, b_t = h_t from a zero start) at once. The chunks are then chained with one
multiply-add each: h = b + a * h_end_of_previous_chunk. Only products of f (no division, no
exponent) appear, so nothing overflows for any f in [0, 1]. Autograd gives the backward.
Time-major: f, x [T, B, ...], h0 [B, ...].
"""

from __future__ import annotations

import torch
from torch import Tensor


def linear_recurrence_loop(f: Tensor, x: Tensor, h0: Tensor | None = None) -> Tensor:
    """The plain step-by-step loop (the reference): returns h [T, B, ...]."""
    h = torch.zeros_like(x[0]) if h0 is None else h0
    out = []
    for t in range(x.shape[0]):
        h = f[t] * h + x[t]
        out.append(h)
    return torch.stack(out)


def _shift(t: Tensor, k: int, fill: float) -> Tensor:
    """t shifted by k along dim 1 (the step within a chunk), the first k entries = fill."""
    head = torch.full_like(t[:, :k], fill)
    return torch.cat([head, t[:, :-k]], dim=1)


def linear_recurrence(f: Tensor, x: Tensor, h0: Tensor | None = None, chunk: int = 64) -> Tensor:
    """h_t = f_t * h_{t-1} + x_t for t = 0..T-1 (h_{-1} = h0 or 0). Returns h [T, B, ...]."""
    if f.shape != x.shape:
        raise ValueError(f"f: expected the shape of x {tuple(x.shape)}, got {tuple(f.shape)}")
    if x.dim() < 2:
        raise ValueError(f"x: expected [T, B, ...], got shape {tuple(x.shape)}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive int, got {chunk!r}")
    if h0 is not None and h0.shape != x.shape[1:]:
        raise ValueError(f"h0: expected shape {tuple(x.shape[1:])}, got {tuple(h0.shape)}")
    steps = x.shape[0]
    if steps == 0:
        return x.clone()
    chunk = min(chunk, steps)
    n_chunks = -(-steps // chunk)
    pad = n_chunks * chunk - steps
    if pad:
        f = torch.cat([f, f.new_ones(pad, *f.shape[1:])])
        x = torch.cat([x, x.new_zeros(pad, *x.shape[1:])])
    a = f.reshape(n_chunks, chunk, *x.shape[1:])
    b = x.reshape(n_chunks, chunk, *x.shape[1:])
    k = 1
    while k < chunk:
        b = b + a * _shift(b, k, 0.0)
        a = a * _shift(a, k, 1.0)
        k *= 2
    h = torch.zeros_like(x[0]) if h0 is None else h0
    outs = []
    for n in range(n_chunks):
        block = b[n] + a[n] * h.unsqueeze(0)
        outs.append(block)
        h = block[-1]
    return torch.cat(outs)[:steps]
