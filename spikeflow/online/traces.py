"""Spike traces and the synaptic outer products that every online rule shares.

A trace is explicit state (a tensor the caller keeps), never a buffer:

    all-to-all:        x[t] = decay x[t-1] + s[t]        (every earlier spike counts)
    nearest-neighbour: x[t] = s[t] + (1 - s[t]) decay x[t-1]   (a spike sets the trace to 1)

``synaptic_outer`` is the batch-summed outer product post x pre a layer's weight sees:
``post^T pre`` for nn.Linear and the weight gradient of the convolution for nn.Conv2d.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PAIRINGS = ("all_to_all", "nearest")


def trace_step(x: Tensor, s: Tensor, decay: float | Tensor, pairing: str = "all_to_all") -> Tensor:
    """One step of a spike trace (see the module docstring). x, s: same shape."""
    if pairing == "all_to_all":
        return decay * x + s
    if pairing == "nearest":
        return s + (1 - s) * (decay * x)
    raise ValueError(f"pairing: expected one of {PAIRINGS}, got {pairing!r}")


def check_layer(layer: nn.Module, name: str = "layer") -> nn.Module:
    """Online rules act on the weight of an nn.Linear or nn.Conv2d (not on stateful modules)."""
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):
        raise TypeError(f"{name}: expected an nn.Linear or nn.Conv2d, got {type(layer).__name__}")
    return layer


def check_pair(layer: nn.Module, pre: Tensor, post: Tensor) -> None:
    """pre / post: one step [B, in...] / [B, out...] of the layer's input and of its neurons' spikes."""
    for name, t in (("pre", pre), ("post", post)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            got = t.dtype if isinstance(t, Tensor) else type(t).__name__
            raise TypeError(f"{name}: expected a floating-point Tensor, got {got}")
    if isinstance(layer, nn.Linear):
        if pre.dim() != 2 or pre.shape[1] != layer.in_features:
            raise ValueError(f"pre: expected [B, {layer.in_features}] for {layer}, got {tuple(pre.shape)}")
        if post.shape != (pre.shape[0], layer.out_features):
            raise ValueError(
                f"post: expected [{pre.shape[0]}, {layer.out_features}] for {layer}, got {tuple(post.shape)}"
            )
    else:
        if pre.dim() != 4 or pre.shape[1] != layer.in_channels:
            raise ValueError(f"pre: expected [B, {layer.in_channels}, H, W] for {layer}, got {tuple(pre.shape)}")
        if post.dim() != 4 or post.shape[:2] != (pre.shape[0], layer.out_channels):
            raise ValueError(
                f"post: expected [{pre.shape[0]}, {layer.out_channels}, H', W'] for {layer}, got {tuple(post.shape)}"
            )
        expected = torch.nn.functional.conv2d(
            torch.zeros(1, layer.in_channels, *pre.shape[2:], device="meta"),
            torch.zeros_like(layer.weight, device="meta"), None,
            layer.stride, layer.padding, layer.dilation, layer.groups,
        ).shape[2:]
        if post.shape[2:] != expected:
            raise ValueError(f"post: expected spatial size {tuple(expected)} for {layer}, got {tuple(post.shape[2:])}")


def synaptic_outer(layer: nn.Module, post: Tensor, pre: Tensor) -> Tensor:
    """Sum over the batch (and positions) of post x pre, shaped like ``layer.weight``.

    Linear: post [B, O], pre [B, I] -> [O, I].  Conv2d: post [B, O, H', W'], pre [B, I, H, W]
    -> [O, I/groups, kH, kW] (the weight gradient of the convolution with output gradient post).
    """
    if isinstance(layer, nn.Linear):
        return post.transpose(0, 1) @ pre
    if layer.padding_mode != "zeros":
        raise ValueError(f"layer: only padding_mode='zeros' is supported, got {layer.padding_mode!r}")
    padding = layer.padding
    if isinstance(padding, str):
        raise ValueError(f"layer: give the Conv2d padding as numbers, got {padding!r}")
    return torch.nn.grad.conv2d_weight(
        pre, layer.weight.shape, post, layer.stride, padding, layer.dilation, layer.groups
    )


def per_sample_outer(layer: nn.Module, post: Tensor, pre: Tensor) -> Tensor:
    """post x pre for every sample separately: [B, *layer.weight.shape]."""
    if isinstance(layer, nn.Linear):
        return torch.einsum("bo,bi->boi", post, pre)
    return torch.stack([synaptic_outer(layer, post[b : b + 1], pre[b : b + 1]) for b in range(pre.shape[0])])
