"""Spiking convolutional networks: the NIR paper's N-MNIST CNN, an MNIST CNN, a VGG-style CNN.

All take [T, B, C, H, W] and return output spikes [T, B, classes] (decode by spike count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..layers import AvgPool2d, BatchNormThroughTime, Flatten, MaxPool2d, SequenceDropout, Sequential, SumPool2d
from ..layers.norm import TDBatchNorm
from ..neurons import IF, Leaky

NORMS = (None, "tdbn", "bntt")


def _pos(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def nmnist_cnn(*, bias: bool = False, threshold: float = 1.0, reset: str = "subtract", reset_delay: bool = False,
               backend: str | None = None) -> Sequential:
    """The spiking CNN of the NIR paper for N-MNIST (Pedersen et al. 2024, exported from Sinabs).

    [T, B, 2, 34, 34] -> Conv(2->16, k5, s2, p1) IF -> Conv(16->16, k3, p1) IF -> SumPool 2
    -> Conv(16->8, k3, p1) IF -> SumPool 2 -> Flatten (128) -> Linear(128->256) IF
    -> Linear(256->10) IF -> [T, B, 10] spikes.

    IF neurons: v[t] = v[t-1] + x[t], spike when v > threshold, reset by subtraction in the same
    step (Sinabs' IAF, without its membrane floor at -1). Layer indices equal the node names of
    the paper's file, so ``load_nir_weights(nmnist_cnn(), "cnn_sinabs.nir")`` fills it.
    """

    def neuron() -> IF:
        return IF(threshold=threshold, reset=reset, reset_delay=reset_delay, backend=backend)

    return Sequential(
        nn.Conv2d(2, 16, 5, stride=2, padding=1, bias=bias), neuron(),
        nn.Conv2d(16, 16, 3, stride=1, padding=1, bias=bias), neuron(), SumPool2d(2, 2),
        nn.Conv2d(16, 8, 3, stride=1, padding=1, bias=bias), neuron(), SumPool2d(2, 2),
        Flatten(), nn.Linear(128, 256, bias=bias), neuron(), nn.Linear(256, 10, bias=bias), neuron(),
    )


def load_nir_weights(model: nn.Sequential, source: Any) -> nn.Sequential:
    """Copy the weights of a NIR graph (or .nir file) into ``model``, matching layers by name.

    Every Conv/Linear child of ``model`` must have a node of the same name with the same weight
    shape; a NIR bias that is not all zero needs a layer with a bias. Neurons with a
    ``threshold`` are checked against the node's v_threshold (r must be 1). Returns ``model``.
    """
    import nir

    graph = nir.read(str(source)) if isinstance(source, (str, Path)) else source
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"source: expected a nir.NIRGraph or a .nir path, got {type(source).__name__}")
    for name, module in model.named_children():
        node = graph.nodes.get(name)
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            if node is None or not hasattr(node, "weight"):
                raise ValueError(f"source: no weight node named {name!r} for layer {type(module).__name__}")
            w = torch.as_tensor(np.asarray(node.weight), dtype=module.weight.dtype)
            if w.shape != module.weight.shape:
                raise ValueError(f"node {name!r}: weight shape {tuple(w.shape)}, the model expects "
                                 f"{tuple(module.weight.shape)}")
            b = getattr(node, "bias", None)
            b = None if b is None else torch.as_tensor(np.broadcast_to(np.asarray(b), w.shape[:1]).copy(),
                                                       dtype=w.dtype)
            if module.bias is None and b is not None and bool(b.any()):
                raise ValueError(f"node {name!r}: the file has a non-zero bias but layer {name!r} has none "
                                 "(build the model with bias=True)")
            with torch.no_grad():
                module.weight.copy_(w)
                if module.bias is not None:
                    module.bias.copy_(b if b is not None else torch.zeros_like(module.bias))
        elif node is not None and hasattr(node, "v_threshold") and hasattr(module, "threshold"):
            thr = np.asarray(node.v_threshold, dtype=np.float64)
            ours = module.threshold.detach().double().numpy()
            try:
                same = bool(np.allclose(thr, ours))
            except ValueError:  # shapes that do not broadcast
                same = False
            if not same:
                raise ValueError(f"node {name!r}: v_threshold {np.unique(thr)[:3]} differs from the model's "
                                 f"threshold {module.threshold.detach()}")
            if hasattr(node, "r") and not np.allclose(np.asarray(node.r), 1.0):
                raise ValueError(f"node {name!r}: r = {np.unique(np.asarray(node.r))[:3]}, the model assumes r = 1")
    return model


def mnist_scnn(channels: Sequence[int] = (12, 32), hidden: int | None = None, num_classes: int = 10, *,
               beta: float = 0.5, threshold: float = 1.0, norm: str | None = None, time_steps: int | None = None,
               dropout: float = 0.0, backend: str | None = None, **leaky_kwargs: Any) -> Sequential:
    """A small spiking CNN for 28x28 digits (snnTorch's tutorial network, with options):

    [T, B, 1, 28, 28] -> Conv(1->c1, k5) [norm] MaxPool 2 Leaky -> Conv(c1->c2, k5) [norm]
    MaxPool 2 Leaky -> Flatten (c2*4*4) [-> Linear(hidden) Leaky] [SequenceDropout]
    -> Linear(num_classes) Leaky -> [T, B, num_classes] spikes.

    norm: None, "tdbn" (TDBatchNorm) or "bntt" (needs ``time_steps``). Pooling acts on the
    convolution's output (the neuron's input current), as in snnTorch's tutorial.
    """
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    if len(channels) != 2:
        raise ValueError(f"channels: expected two channel counts, got {channels!r}")
    c1, c2 = (_pos("channels", c) for c in channels)

    def leaky() -> Leaky:
        return Leaky(beta=beta, threshold=threshold, backend=backend, **leaky_kwargs)

    def bn(c: int) -> list[nn.Module]:
        if norm == "tdbn":
            return [TDBatchNorm(c, threshold=threshold)]
        if norm == "bntt":
            return [BatchNormThroughTime(c, _pos("time_steps", time_steps))]
        return []

    layers: list[nn.Module] = [nn.Conv2d(1, c1, 5), *bn(c1), MaxPool2d(2), leaky(),
                               nn.Conv2d(c1, c2, 5), *bn(c2), MaxPool2d(2), leaky(), Flatten()]
    width = c2 * 4 * 4
    if hidden is not None:
        layers += [nn.Linear(width, _pos("hidden", hidden)), leaky()]
        width = hidden
    if dropout:
        layers.append(SequenceDropout(dropout))
    layers += [nn.Linear(width, _pos("num_classes", num_classes)), leaky()]
    return Sequential(*layers)


VGG11 = (64, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P")


def vgg_snn(in_channels: int = 2, num_classes: int = 11, input_size: tuple[int, int] = (48, 48),
            cfg: Sequence[int | str] = VGG11, *, norm: str | None = "tdbn", time_steps: int | None = None,
            pool: str = "avg", beta: float = 0.5, threshold: float = 1.0, dropout: float = 0.25,
            backend: str | None = None, **leaky_kwargs: Any) -> Sequential:
    """A VGG-style spiking CNN for event cameras (DVS Gesture: 2x48x48 frames, 11 classes;
    CIFAR10-DVS: pass num_classes=10).

    cfg: channel counts, "P" = 2x2 pooling (default VGG-11's layout). Each number c gives
    Conv(k3, p1, no bias) -> norm -> Leaky; then Flatten -> SequenceDropout(dropout)
    -> Linear(num_classes) -> Leaky. norm: "tdbn" (default), "bntt" (needs ``time_steps``) or
    None (conv bias on). pool: "avg" (default; exports to NIR), "max" or "sum".
    Input [T, B, in_channels, H, W] -> [T, B, num_classes] spikes.
    """
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    pools = {"avg": AvgPool2d, "max": MaxPool2d, "sum": SumPool2d}
    if pool not in pools:
        raise ValueError(f"pool: expected one of {tuple(pools)}, got {pool!r}")
    h, w = (int(v) for v in input_size)
    c = _pos("in_channels", in_channels)
    layers: list[nn.Module] = []
    for item in cfg:
        if item == "P":
            if h < 2 or w < 2:
                raise ValueError(f"cfg: too many pooling stages for input_size {tuple(input_size)}")
            layers.append(pools[pool](2, 2))
            h, w = h // 2, w // 2
            continue
        out = _pos("cfg entry", item)
        layers.append(nn.Conv2d(c, out, 3, padding=1, bias=norm is None))
        if norm == "tdbn":
            layers.append(TDBatchNorm(out, threshold=threshold))
        elif norm == "bntt":
            layers.append(BatchNormThroughTime(out, _pos("time_steps", time_steps)))
        layers.append(Leaky(beta=beta, threshold=threshold, backend=backend, **leaky_kwargs))
        c = out
    layers.append(Flatten())
    if dropout:
        layers.append(SequenceDropout(dropout))
    layers += [nn.Linear(c * h * w, _pos("num_classes", num_classes)),
               Leaky(beta=beta, threshold=threshold, backend=backend, **leaky_kwargs)]
    return Sequential(*layers)
