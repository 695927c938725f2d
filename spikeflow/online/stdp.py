"""Trace-based pair STDP for the weight of an nn.Linear or nn.Conv2d.

Per step, with s in {0, 1} and the traces updated first (so they include this step's spike):

    x_pre  <- trace_step(x_pre,  s_pre,  decay_pre)     decay = exp(-dt / tau)
    x_post <- trace_step(x_post, s_post, decay_post)
    dW     = a_plus f_post(W) (s_post x x_pre) - a_minus f_pre(W) (x_post x s_pre)

summed over the batch (and positions for a convolution). Bounds:
    additive:        f_post = f_pre = 1; the in-place learner clips W to [w_min, w_max]
    multiplicative:  f_post = w_max - W,  f_pre = W - w_min   (soft bounds)
Pairing: "all_to_all" (traces accumulate) or "nearest" (a spike sets its trace to 1).

One pre spike at t_pre and one post spike at t_post = t_pre + d give (closed form):
    d > 0: a_plus f_post decay_pre^d;  d < 0: -a_minus f_pre decay_post^|d|;
    d = 0: a_plus f_post - a_minus f_pre.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .traces import PAIRINGS, check_layer, check_pair, synaptic_outer, trace_step

BOUNDS = ("additive", "multiplicative")
UPDATES = ("inplace", "grad")


class STDPState(NamedTuple):
    """Presynaptic trace [B, in...] and postsynaptic trace [B, out...]."""

    x_pre: Tensor
    x_post: Tensor


def decay_of(name: str, tau: float, dt: float) -> float:
    """exp(-dt / tau), validated."""
    for n, v in ((name, tau), ("dt", dt)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{n}: expected a finite positive number, got {v!r}")
    return math.exp(-dt / tau)


class STDP:
    """Pair STDP learner for ``layer`` (nn.Linear or nn.Conv2d); see the module docstring.

    ``update="inplace"``: ``step`` adds dW to ``layer.weight`` (then clips, additive bounds).
    ``update="grad"``: ``step`` adds -dW to ``layer.weight.grad``, so an optimizer step with
    learning rate lr performs W += lr dW (call ``clamp_()`` after it for hard bounds).
    The traces are returned state: ``state = stdp.step(pre_t, post_t, state)``.
    """

    def __init__(
        self,
        layer: nn.Module,
        *,
        tau_pre: float = 20.0,
        tau_post: float = 20.0,
        dt: float = 1.0,
        a_plus: float = 1e-2,
        a_minus: float = 1e-2,
        pairing: str = "all_to_all",
        bounds: str = "additive",
        w_min: float | None = None,
        w_max: float | None = None,
        update: str = "inplace",
    ) -> None:
        self.layer = check_layer(layer)
        self.decay_pre = decay_of("tau_pre", tau_pre, dt)
        self.decay_post = decay_of("tau_post", tau_post, dt)
        for name, v in (("a_plus", a_plus), ("a_minus", a_minus)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name}: expected a finite number, got {v!r}")
        self.a_plus, self.a_minus = float(a_plus), float(a_minus)
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing: expected one of {PAIRINGS}, got {pairing!r}")
        if bounds not in BOUNDS:
            raise ValueError(f"bounds: expected one of {BOUNDS}, got {bounds!r}")
        if update not in UPDATES:
            raise ValueError(f"update: expected one of {UPDATES}, got {update!r}")
        if bounds == "multiplicative" and (w_min is None or w_max is None):
            raise ValueError(f"bounds='multiplicative' needs w_min and w_max, got w_min={w_min!r}, w_max={w_max!r}")
        if w_min is not None and w_max is not None and not w_min < w_max:
            raise ValueError(f"w_min, w_max: expected w_min < w_max, got {w_min!r}, {w_max!r}")
        self.pairing, self.bounds, self.update = pairing, bounds, update
        self.w_min, self.w_max = w_min, w_max

    # -- state --------------------------------------------------------------------------
    def init_state(self, pre: Tensor, post: Tensor) -> STDPState:
        """Zero traces shaped like one step of pre and post."""
        return STDPState(torch.zeros_like(pre), torch.zeros_like(post))

    def _state(self, state: STDPState | None, pre: Tensor, post: Tensor) -> STDPState:
        check_pair(self.layer, pre, post)
        if state is None:
            return self.init_state(pre, post)
        if not isinstance(state, tuple) or len(state) != 2:
            raise TypeError(f"state: expected STDPState(x_pre, x_post) or None, got {type(state).__name__}")
        state = STDPState(*state)
        if state.x_pre.shape != pre.shape or state.x_post.shape != post.shape:
            raise ValueError(
                f"state: traces of shape {tuple(state.x_pre.shape)}, {tuple(state.x_post.shape)} do not fit "
                f"pre {tuple(pre.shape)} and post {tuple(post.shape)}"
            )
        return state

    # -- the rule -----------------------------------------------------------------------
    def factors(self, w: Tensor) -> tuple[Tensor | float, Tensor | float]:
        """(f_post(W), f_pre(W)): the weight dependence of potentiation and depression."""
        if self.bounds == "additive":
            return 1.0, 1.0
        return self.w_max - w, w - self.w_min  # type: ignore[operator]

    def traces(self, pre: Tensor, post: Tensor, state: STDPState) -> STDPState:
        return STDPState(
            trace_step(state.x_pre, pre, self.decay_pre, self.pairing),
            trace_step(state.x_post, post, self.decay_post, self.pairing),
        )

    @torch.no_grad()
    def delta(self, pre: Tensor, post: Tensor, state: STDPState | None = None) -> tuple[Tensor, STDPState]:
        """dW for one step (weights untouched) and the new traces.

        pre: [B, in...] spikes entering the layer; post: [B, out...] spikes of its neurons.
        """
        state = self.traces(pre, post, self._state(state, pre, post))
        w = self.layer.weight
        f_post, f_pre = self.factors(w)
        ltp = synaptic_outer(self.layer, post, state.x_pre)
        ltd = synaptic_outer(self.layer, state.x_post, pre)
        return self.a_plus * f_post * ltp - self.a_minus * f_pre * ltd, state

    def apply(self, dw: Tensor) -> None:
        """Add dW to the weight (inplace) or -dW to its .grad (grad)."""
        w = self.layer.weight
        if self.update == "inplace":
            with torch.no_grad():
                w.add_(dw.to(w.dtype))
            self.clamp_()
        elif w.grad is None:
            w.grad = -dw.to(w.dtype)
        else:
            w.grad.sub_(dw.to(w.dtype))

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clip the weight to [w_min, w_max] (where given)."""
        if self.w_min is not None or self.w_max is not None:
            self.layer.weight.clamp_(self.w_min, self.w_max)

    def step(self, pre: Tensor, post: Tensor, state: STDPState | None = None) -> STDPState:
        """Apply one step's dW; returns the new traces."""
        dw, state = self.delta(pre, post, state)
        self.apply(dw)
        return state

    def sequence(self, pre: Tensor, post: Tensor, state: STDPState | None = None) -> STDPState:
        """Run ``step`` over pre [T, B, in...] and post [T, B, out...]; returns the final traces."""
        tensors = isinstance(pre, Tensor) and isinstance(post, Tensor)
        if not tensors or pre.dim() < 3 or pre.shape[0] != post.shape[0]:
            got = (tuple(pre.shape) if isinstance(pre, Tensor) else type(pre).__name__,
                   tuple(post.shape) if isinstance(post, Tensor) else type(post).__name__)
            raise ValueError(f"pre, post: expected time-major sequences [T, B, ...] of equal T, got {got}")
        for pre_t, post_t in zip(pre.unbind(0), post.unbind(0), strict=True):
            state = self.step(pre_t, post_t, state)
        assert state is not None
        return state
