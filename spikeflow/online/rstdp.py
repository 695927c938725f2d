"""Reward-modulated STDP: MSTDP and MSTDP with an eligibility trace (Florian 2007).

The STDP term of one step for each sample b (see ``spikeflow.online.stdp``):

    zeta_b = a_plus f_post(W) (s_post,b x x_pre,b) - a_minus f_pre(W) (x_post,b x s_pre,b)

    MSTDP   (tau_eligibility None):  dW = sum_b r_b zeta_b
    MSTDPET (tau_eligibility given): e_b <- decay_e e_b + zeta_b,  dW = sum_b r_b e_b

r is a scalar or one reward per sample [B]. Rewards may be given at every step or only when
they arrive (``reward=None`` advances the traces without changing W). The eligibility is kept
per sample: [B, *W.shape].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .stdp import STDP, decay_of
from .traces import per_sample_outer


class RSTDPState(NamedTuple):
    """Pre and post traces (as STDPState) and the eligibility [B, *W.shape] (None for MSTDP)."""

    x_pre: Tensor
    x_post: Tensor
    eligibility: Tensor | None


class RewardSTDP(STDP):
    """R-STDP learner; the keyword arguments of :class:`STDP` plus ``tau_eligibility``.

    ``state = rstdp.step(pre_t, post_t, state, reward=r)``; ``update`` "inplace" or "grad"
    as for STDP (grad mode adds -dW to ``weight.grad``).
    """

    def __init__(self, layer: nn.Module, *, tau_eligibility: float | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(layer, **kwargs)
        dt = kwargs.get("dt", 1.0)
        self.decay_e = None if tau_eligibility is None else decay_of("tau_eligibility", tau_eligibility, dt)

    def _rstate(self, state: RSTDPState | None, pre: Tensor, post: Tensor) -> RSTDPState:
        if state is None:
            base = self._state(None, pre, post)
            e = None
            if self.decay_e is not None:
                e = torch.zeros(pre.shape[0], *self.layer.weight.shape, dtype=pre.dtype, device=pre.device)
            return RSTDPState(base.x_pre, base.x_post, e)
        if not isinstance(state, tuple) or len(state) != 3:
            raise TypeError(
                f"state: expected RSTDPState(x_pre, x_post, eligibility) or None, got {type(state).__name__}"
            )
        state = RSTDPState(*state)
        self._state((state.x_pre, state.x_post), pre, post)
        return state

    @torch.no_grad()
    def zeta(self, pre: Tensor, post: Tensor, state: RSTDPState | None = None) -> tuple[Tensor, RSTDPState]:
        """The per-sample STDP term [B, *W.shape] of this step, and the new state (eligibility updated)."""
        state = self._rstate(state, pre, post)
        traces = self.traces(pre, post, state)  # type: ignore[arg-type]
        f_post, f_pre = self.factors(self.layer.weight)
        z = self.a_plus * f_post * per_sample_outer(self.layer, post, traces.x_pre) - self.a_minus * f_pre * (
            per_sample_outer(self.layer, traces.x_post, pre)
        )
        e = state.eligibility
        if e is not None:
            e = self.decay_e * e + z
        return z, RSTDPState(traces.x_pre, traces.x_post, e)

    def _reward(self, reward: float | Tensor, batch: int, like: Tensor) -> Tensor:
        r = torch.as_tensor(reward, dtype=like.dtype, device=like.device)
        if r.dim() == 0:
            r = r.expand(batch)
        if r.shape != (batch,):
            raise ValueError(f"reward: expected a scalar or a Tensor [B] with B={batch}, got shape {tuple(r.shape)}")
        if not torch.isfinite(r).all():
            raise ValueError("reward: contains NaN or inf")
        return r

    @torch.no_grad()
    def modulated(self, term: Tensor, reward: float | Tensor) -> Tensor:
        """sum_b r_b term_b for term [B, *W.shape]."""
        r = self._reward(reward, term.shape[0], term)
        return torch.tensordot(r, term, dims=1)

    def step(  # type: ignore[override]
        self, pre: Tensor, post: Tensor, state: RSTDPState | None = None, reward: float | Tensor | None = None
    ) -> RSTDPState:
        """Advance the traces; if ``reward`` is given, apply dW (see the module docstring)."""
        z, state = self.zeta(pre, post, state)
        if reward is not None:
            self.apply(self.modulated(z if state.eligibility is None else state.eligibility, reward))
        return state

    def reward(self, state: RSTDPState, reward: float | Tensor) -> None:
        """Apply dW = sum_b r_b e_b from the eligibility alone (a reward that arrives later)."""
        if state.eligibility is None:
            raise ValueError("reward: needs an eligibility trace (give tau_eligibility), got MSTDP without one")
        self.apply(self.modulated(state.eligibility, reward))

    def sequence(  # type: ignore[override]
        self, pre: Tensor, post: Tensor, state: RSTDPState | None = None, reward: Tensor | None = None
    ) -> RSTDPState:
        """Run over pre [T, B, ...], post [T, B, ...] with reward [T] or [T, B] (None: no update)."""
        if pre.dim() < 3 or pre.shape[0] != post.shape[0]:
            raise ValueError(f"pre, post: expected [T, B, ...] of equal T, got {tuple(pre.shape)}, {tuple(post.shape)}")
        if reward is not None and (not isinstance(reward, Tensor) or reward.shape[0] != pre.shape[0]):
            got = tuple(reward.shape) if isinstance(reward, Tensor) else type(reward).__name__
            raise ValueError(f"reward: expected a Tensor [T] or [T, B] with T={pre.shape[0]}, got {got}")
        for t in range(pre.shape[0]):
            state = self.step(pre[t], post[t], state, None if reward is None else reward[t])
        assert state is not None
        return state
