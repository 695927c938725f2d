"""Online training through time (OTTT; Xiao et al., NeurIPS 2022).

For a feed-forward stack (``sf.Sequential`` of nn.Linear / nn.Conv2d, neurons and stateless
layers) each step runs with the neuron state detached from the previous step, and every
synaptic layer l keeps a presynaptic trace of its input (no gradient):

    a_l[t] = lambda_l a_l[t-1] + s_l[t]          lambda_l: decay (beta) of the neurons it feeds

The layer's forward uses the input s_l[t]; its weight gradient uses the trace instead:

    dL[t]/dW_l = (dL[t]/du_l[t]) x a_l[t]          (instantaneous spatial backprop only)
    dL[t]/db_l = (dL[t]/du_l[t]) c_l[t],  c_l[t] = lambda_l c_l[t-1] + 1   (the bias input is 1)

Input gradients (to lower layers) are the usual W^T g. A per-step loss L[t] is backpropagated
at every step, so memory does not grow with T. ``update="accumulate"`` sums the gradients over
the sequence (OTTT_A, one optimizer step per sequence); ``update="step"`` takes an optimizer
step after every time step (OTTT_O).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor, nn

from ..layers.sequential import TimeDistributed, is_stateful

UPDATES = ("accumulate", "step")


class _TraceLinear(torch.autograd.Function):
    """y = s W^T + b; backward: grad_s = g W, grad_W = g^T a, grad_b = c sum g (a: the
    presynaptic trace, c: the trace of the constant input 1 that the bias sees)."""

    @staticmethod
    def forward(ctx, s: Tensor, a: Tensor, weight: Tensor, bias: Tensor | None, c: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(a, weight)
        ctx.has_bias, ctx.c = bias is not None, c
        return nn.functional.linear(s, weight, bias)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        a, weight = ctx.saved_tensors
        grad_s = g @ weight if ctx.needs_input_grad[0] else None
        grad_w = g.reshape(-1, g.shape[-1]).transpose(0, 1) @ a.reshape(-1, a.shape[-1])
        grad_b = ctx.c * g.reshape(-1, g.shape[-1]).sum(0) if ctx.has_bias else None
        return grad_s, None, grad_w, grad_b, None


class _TraceConv2d(torch.autograd.Function):
    """y = conv2d(s, W) + b; backward: grad_W from the trace a in place of s."""

    @staticmethod
    def forward(ctx, s: Tensor, a: Tensor, weight: Tensor, bias: Tensor | None, conf: tuple, c: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(a, weight)
        ctx.conf, ctx.has_bias, ctx.in_shape, ctx.c = conf, bias is not None, s.shape, c
        return nn.functional.conv2d(s, weight, bias, *conf)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        a, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_s = None
        if ctx.needs_input_grad[0]:
            grad_s = torch.nn.grad.conv2d_input(ctx.in_shape, weight, g, stride, padding, dilation, groups)
        grad_w = torch.nn.grad.conv2d_weight(a, weight.shape, g, stride, padding, dilation, groups)
        grad_b = ctx.c * g.sum((0, 2, 3)) if ctx.has_bias else None
        return grad_s, None, grad_w, grad_b, None, None


def trace_linear(s: Tensor, a: Tensor, layer: nn.Linear, c: float = 1.0) -> Tensor:
    """``layer(s)`` whose weight gradient uses the trace ``a`` (same shape as s) in place of s
    and whose bias gradient is scaled by ``c`` (the trace of a constant 1)."""
    return _TraceLinear.apply(s, a, layer.weight, layer.bias, c)


def trace_conv2d(s: Tensor, a: Tensor, layer: nn.Conv2d, c: float = 1.0) -> Tensor:
    """``layer(s)`` whose weight gradient uses the trace ``a`` in place of s (zero padding only);
    bias gradient scaled by ``c``."""
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise ValueError(f"layer: OTTT needs numeric zero padding, got padding={layer.padding!r}, "
                         f"padding_mode={layer.padding_mode!r}")
    conf = (layer.stride, layer.padding, layer.dilation, layer.groups)
    return _TraceConv2d.apply(s, a, layer.weight, layer.bias, conf, c)


class OTTTState(NamedTuple):
    """One entry per layer of the network: the neuron state (neurons), (presynaptic trace,
    trace of the bias input) for Linear/Conv2d, or None (other layers). Everything is detached."""

    layers: list[Any]


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, TimeDistributed) else module


def _detach(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return type(state)(*(_detach(s) for s in state))


def _neuron_decay(neuron: nn.Module) -> float:
    beta = getattr(neuron, "beta", None)
    if getattr(neuron, "model", None) not in ("leaky", "li") or not isinstance(beta, Tensor) or beta.numel() != 1:
        raise ValueError(
            f"trace_decay: the input trace follows a first-order membrane (Leaky, IF, LI) with one beta; "
            f"got {type(neuron).__name__}; give trace_decay explicitly (a float per synaptic layer)"
        )
    return float(beta.detach().clamp(0, 1))


class OTTT:
    """OTTT learner for a feed-forward ``net`` (``sf.Sequential``); see the module docstring.

    trace_decay: None (each synaptic layer takes the beta of the first neuron module after
    it, 0 if none follows), a float for every layer, or a list with one float per Linear/Conv2d.
    """

    def __init__(self, net: nn.Sequential, trace_decay: float | list[float] | None = None) -> None:
        if not isinstance(net, nn.Sequential):
            raise TypeError(f"net: expected an sf.Sequential / nn.Sequential, got {type(net).__name__}")
        self.net = net
        self.layers = list(net)
        synaptic = [i for i, m in enumerate(self.layers) if isinstance(_unwrap(m), (nn.Linear, nn.Conv2d))]
        if not synaptic:
            raise ValueError("net: OTTT needs at least one nn.Linear or nn.Conv2d layer, found none")
        for i, m in enumerate(self.layers):
            if is_stateful(m) and not hasattr(m, "step"):
                raise TypeError(f"net[{i}]: stateful {type(m).__name__} has no .step(x_t, state)")
            if isinstance(m, nn.Sequential):
                raise TypeError(f"net[{i}]: nested Sequential is not supported; flatten the stack")
        if isinstance(trace_decay, (list, tuple)):
            if len(trace_decay) != len(synaptic):
                raise ValueError(f"trace_decay: expected {len(synaptic)} values (one per Linear/Conv2d), "
                                 f"got {len(trace_decay)}")
            decays = [float(d) for d in trace_decay]
        elif trace_decay is not None:
            decays = [float(trace_decay)] * len(synaptic)
        else:
            decays = []
            for i in synaptic:
                after = [m for m in self.layers[i + 1 :] if is_stateful(m)]
                decays.append(_neuron_decay(after[0]) if after else 0.0)
        for d in decays:
            if not 0.0 <= d <= 1.0:
                raise ValueError(f"trace_decay: expected values in [0, 1], got {d!r}")
        self.decay = dict(zip(synaptic, decays, strict=True))

    def step(self, x_t: Tensor, state: OTTTState | None = None) -> tuple[Tensor, OTTTState]:
        """One step: x_t [B, ...] -> (output [B, ...] with this step's graph only, new detached state)."""
        if not isinstance(x_t, Tensor) or not x_t.is_floating_point():
            raise TypeError(f"x_t: expected a floating-point Tensor [B, ...], got {type(x_t).__name__}")
        if state is None:
            prev: list[Any] = [None] * len(self.layers)
        elif isinstance(state, OTTTState) and len(state.layers) == len(self.layers):
            prev = list(state.layers)
        else:
            raise ValueError(f"state: expected an OTTTState with {len(self.layers)} entries or None, got {state!r:.80}")
        h, new = x_t, []
        for i, module in enumerate(self.layers):
            inner = _unwrap(module)
            if i in self.decay:
                s, lam = h.detach(), self.decay[i]
                a, c = (s, 1.0) if prev[i] is None else (lam * prev[i][0] + s, lam * prev[i][1] + 1.0)
                h = trace_linear(h, a, inner, c) if isinstance(inner, nn.Linear) else trace_conv2d(h, a, inner, c)
                new.append((a, c))
            elif is_stateful(module):
                h, st = module.step(h, prev[i])
                new.append(_detach(st))
            else:
                h = inner(h)  # a stateless layer on one step (TimeDistributed unwrapped)
                new.append(None)
        return h, OTTTState(new)

    def forward_sequence(self, x: Tensor, state: OTTTState | None = None) -> tuple[Tensor, OTTTState]:
        """Inference over x [T, B, ...] with the OTTT dynamics (no gradients kept)."""
        outs = []
        with torch.no_grad():
            for x_t in x.unbind(0):
                out, state = self.step(x_t, state)
                outs.append(out)
        assert state is not None
        return torch.stack(outs), state

    def train_sequence(
        self,
        x: Tensor,
        target: Any,
        loss_fn: Callable[[Tensor, Any], Tensor],
        *,
        update: str = "accumulate",
        optimizer: torch.optim.Optimizer | None = None,
        state: OTTTState | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Backpropagate L = (1/T) sum_t loss_fn(out[t], target) step by step.

        update "accumulate": gradients add up in ``.grad`` (zero them before, step after).
        update "step": needs ``optimizer``; zero_grad, backward and step at every time step.
        Returns (outputs [T, B, ...] detached, total loss detached).
        """
        if update not in UPDATES:
            raise ValueError(f"update: expected one of {UPDATES}, got {update!r}")
        if update == "step" and not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer: update='step' needs a torch optimizer, got {type(optimizer).__name__}")
        if not isinstance(x, Tensor) or x.dim() < 2:
            raise ValueError(f"x: expected a time-major Tensor [T, B, ...], got {getattr(x, 'shape', type(x))}")
        steps = x.shape[0]
        outs: Tensor | None = None  # filled in place: no per-step allocation kept alive
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for t, x_t in enumerate(x.unbind(0)):
            if update == "step":
                optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            out, state = self.step(x_t, state)
            loss = loss_fn(out, target) / steps
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise TypeError(f"loss_fn: expected a scalar Tensor per step, got {loss!r}")
            if loss.requires_grad:
                loss.backward()
            if update == "step":
                optimizer.step()  # type: ignore[union-attr]
            if outs is None:
                outs = out.new_empty(steps, *out.shape)
            outs[t] = out.detach()
            total = total + loss.detach()
        assert outs is not None
        return outs, total
