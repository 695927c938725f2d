"""ANN -> SNN conversion by rate coding with data-based threshold balancing.

A trained ReLU network (an ``nn.Sequential`` of Conv1d/Conv2d/Linear, BatchNorm1d/2d, ReLU,
AvgPool2d, Flatten, Dropout; nested Sequentials are flattened) becomes a spikeflow
``Sequential`` of the same weight layers and IF neurons with reset by subtraction:

1. batch norms are folded into the Conv/Linear before them (exact, eval mode);
2. robust normalisation (Rueckauer et al. 2017): lambda_l = the ``percentile``-th percentile
   of the l-th ReLU's activations on calibration data (99.9 or 99.99 is robust to outliers,
   100 = max-norm); weights become W_l lambda_{l-1} / lambda_l, biases b_l / lambda_l, and every
   IF neuron has threshold 1, so that rate_l(t) * lambda_l -> ReLU_l as T grows (up to
   saturation at one spike per step for activations above lambda_l);
3. the last weight layer (no ReLU after it) feeds a non-spiking integrator (LI with beta 1),
   whose membrane / t is the running mean of the ANN's logits (readout="membrane"), or IF
   neurons whose spike counts vote (readout="spikes").

The input is the analog image, fed as the same input current at every step (lambda_0 = 1).
Max pooling is rejected: the max over a window of spike trains is not the spike train of the
max (it over-counts), so train the ANN with AvgPool2d instead.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..layers import Sequential
from ..layers.norm import fold_batchnorm
from ..neurons import IF, LI
from .signed import SignedIF

WEIGHTS = (nn.Conv1d, nn.Conv2d, nn.Linear)
BNS = (nn.BatchNorm1d, nn.BatchNorm2d)
PASSIVE = (nn.AvgPool2d, nn.AvgPool1d, nn.Flatten)  # linear, positively homogeneous: commute with the scale
DROPPED = (nn.Dropout, nn.Identity)
READOUTS = ("membrane", "spikes")


def _flatten(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [m for child in module for m in _flatten(child)]
    return [module]


def fold_ann(ann: nn.Sequential) -> list[nn.Module]:
    """The ANN's layers in order (copies), batch norms folded into the preceding Conv/Linear,
    dropout and identities removed. Raises for layers conversion does not handle."""
    if not isinstance(ann, nn.Sequential):
        raise TypeError(f"ann: expected an nn.Sequential of layers, got {type(ann).__name__}")
    out: list[nn.Module] = []
    for m in _flatten(ann):
        if isinstance(m, DROPPED):
            continue
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
            raise ValueError(f"ann: {type(m).__name__} cannot be converted to rate-coded spikes (the max of spike "
                             "trains over-counts); train the ANN with nn.AvgPool2d instead")
        if isinstance(m, BNS):
            if not out or not isinstance(out[-1], WEIGHTS):
                raise ValueError(f"ann: {type(m).__name__} must directly follow a Conv/Linear layer to be folded")
            out[-1] = fold_batchnorm(out[-1], m)
            continue
        if isinstance(m, WEIGHTS + PASSIVE + (nn.ReLU,)):
            out.append(copy.deepcopy(m))
            continue
        raise TypeError(f"ann: layer {type(m).__name__} is not supported (Conv1d/Conv2d/Linear, BatchNorm1d/2d, "
                        "ReLU, AvgPool, Flatten, Dropout)")
    if not out or not any(isinstance(m, WEIGHTS) for m in out):
        raise ValueError("ann: no Conv/Linear layer to convert")
    return [m.eval() for m in out]


@torch.no_grad()
def activation_scales(layers: Sequence[nn.Module], calibration: Tensor, percentile: float = 99.99,
                      batch_size: int = 250) -> list[float]:
    """lambda for each ReLU of ``layers``: the ``percentile``-th percentile of its activations
    (all units, all calibration samples) on ``calibration`` [N, ...] (the ANN's input)."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile: expected a value in (0, 100], got {percentile!r}")
    if not isinstance(calibration, Tensor) or calibration.dim() < 2 or calibration.shape[0] < 1:
        got = getattr(calibration, "shape", calibration)
        raise ValueError(f"calibration: expected a tensor [N, ...] of ANN inputs, got {got}")
    relus = [i for i, m in enumerate(layers) if isinstance(m, nn.ReLU)]
    acts: dict[int, list[np.ndarray]] = {i: [] for i in relus}
    for k in range(0, calibration.shape[0], batch_size):
        h = calibration[k:k + batch_size]
        for i, m in enumerate(layers):
            h = m(h)
            if i in acts:
                acts[i].append(h.detach().cpu().float().numpy().ravel())
    scales = []
    for i in relus:
        lam = float(np.percentile(np.concatenate(acts[i]), percentile))
        scales.append(lam if lam > 0 else 1.0)  # a dead layer: any scale gives the same (zero) output
    return scales


def convert(ann: nn.Sequential, calibration: Tensor, percentile: float = 99.99, *, signed: bool = False,
            readout: str = "membrane", backend: str | None = None) -> Sequential:
    """Convert a trained ReLU ``ann`` to a spiking ``Sequential`` (see the module docstring).

    calibration: ANN inputs [N, ...] used for threshold balancing. signed: SignedIF neurons
    (with memory) instead of IF. The result maps the input repeated over time [T, B, ...]
    to [T, B, classes]: the readout membrane (running sum of logits) or output spikes.
    """
    if readout not in READOUTS:
        raise ValueError(f"readout: expected one of {READOUTS}, got {readout!r}")
    layers = fold_ann(ann)
    if isinstance(layers[0], nn.ReLU):
        raise ValueError("ann: starts with a ReLU; conversion needs a Conv/Linear first")
    scales = activation_scales(layers, calibration, percentile)
    out_scale = 1.0
    if readout == "spikes":  # the output neurons fire at most once per step: normalise the logits too
        with torch.no_grad():
            logits = torch.cat([nn.Sequential(*layers)(calibration[k:k + 250])
                                for k in range(0, calibration.shape[0], 250)])
        out_scale = float(np.percentile(logits.clamp(min=0).numpy().ravel(), percentile)) or 1.0
    weight_idx = [i for i, m in enumerate(layers) if isinstance(m, WEIGHTS)]
    out: list[nn.Module] = []
    prev, relu_k, pending = 1.0, 0, None  # pending: the last weight layer, rescaled once its lambda is known
    for i, m in enumerate(layers):
        if isinstance(m, WEIGHTS):
            pending = m
            out.append(m)
        elif isinstance(m, nn.ReLU):
            if pending is None:
                raise ValueError(f"ann: ReLU at position {i} has no Conv/Linear before it")
            lam = scales[relu_k]
            relu_k += 1
            with torch.no_grad():
                pending.weight.mul_(prev / lam)
                if pending.bias is not None:
                    pending.bias.div_(lam)
            prev, pending = lam, None
            out.append(SignedIF(1.0) if signed else IF(threshold=1.0, reset="subtract", reset_delay=False,
                                                       backend=backend))
        else:
            out.append(m)
    last = weight_idx[-1]
    if pending is None or pending is not layers[last]:
        raise ValueError("ann: the last Conv/Linear must give the logits (no ReLU after it)")
    with torch.no_grad():
        pending.weight.mul_(prev / out_scale)
        if pending.bias is not None:
            pending.bias.div_(out_scale)
    if readout == "membrane":
        out.append(LI(beta=1.0, backend=backend))
    else:
        out.append(IF(threshold=1.0, reset="subtract", reset_delay=False, backend=backend))
    return Sequential(*out).eval()


@torch.no_grad()
def run_constant_input(snn: nn.Module, x: Tensor, steps: int, chunk: int = 16) -> Tensor:
    """The output [steps, B, ...] of ``snn`` driven by the analog input x [B, ...] at every step,
    computed ``chunk`` steps at a time (the state is carried across chunks)."""
    states = None
    outs = []
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        y, states = snn(x.unsqueeze(0).expand(n, *x.shape).contiguous(), states)
        outs.append(y)
        done += n
    return torch.cat(outs)


@torch.no_grad()
def evaluate_over_time(snn: nn.Module, x: Tensor, y: Tensor, steps: Sequence[int], batch_size: int = 250
                       ) -> dict[int, float]:
    """Test accuracy of a converted SNN after each number of steps in ``steps`` (one run to the
    largest): the class with the largest accumulated readout (membrane or spike count)."""
    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ValueError(f"steps: expected positive ints, got {steps!r}")
    correct = {t: 0 for t in steps}
    for k in range(0, x.shape[0], batch_size):
        out = run_constant_input(snn, x[k:k + batch_size], steps[-1])
        spiking = not isinstance(snn[-1], LI) if isinstance(snn, nn.Sequential) else True
        acc = out.cumsum(0) if spiking else out  # LI(beta=1) already holds the running sum
        for t in steps:
            correct[t] += int((acc[t - 1].argmax(-1) == y[k:k + batch_size]).sum())
    return {t: c / x.shape[0] for t, c in correct.items()}


def relu_outputs(layers: Sequence[nn.Module], x: Tensor) -> list[Tensor]:
    """The ANN's activation after each ReLU for input x (for checks and rate comparisons)."""
    outs = []
    h = x
    with torch.no_grad():
        for m in layers:
            h = m(h)
            if isinstance(m, nn.ReLU):
                outs.append(h)
    return outs


