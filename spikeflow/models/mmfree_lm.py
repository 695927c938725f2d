"""A MatMul-free language model (Zhu et al. 2024): ternary BitLinear projections, an MLGRU token
mixer run by a chunked parallel scan, and a GLU channel mixer; optionally spiking.

Token mixer (MLGRU), per step t, x_t [B, d]:
    f_t = sigmoid(BitLinear_f(x_t)),  c_t = SiLU(BitLinear_c(x_t))     (spiking: c_t = H(BitLinear_c(x_t)))
    h_t = f_t * h_{t-1} + (1 - f_t) * c_t
    o_t = BitLinear_o(sigmoid(BitLinear_g(x_t)) * h_t)
The spiking variant (SpikeGPT-style binary activations) replaces c_t by binary spikes with a
surrogate gradient, so the recurrence integrates spikes.
Channel mixer (GLU): [g, u] = BitLinear(d -> 2h)(x);  out = BitLinear(h -> d)(SiLU(g) * u).
Block: x += MLGRU(RMSNorm(x)); x += GLU(RMSNorm(x)). Model: embedding -> blocks -> RMSNorm ->
BitLinear head. Tokens are time-major: ids [T, B] -> logits [T, B, vocab]. ``step`` runs one
token with the recurrent state (generation in O(1) per token).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..layers.bitlinear import BitLinear, RMSNorm
from ..layers.scan import linear_recurrence
from ..surrogate import ATan


class MLGRU(nn.Module):
    """MatMul-free linear GRU token mixer: x [T, B, d] -> [T, B, d] (state h [B, d])."""

    def __init__(self, d: int, spiking: bool = False, chunk: int = 64) -> None:
        super().__init__()
        if not isinstance(spiking, bool):
            raise TypeError(f"spiking: expected a bool, got {spiking!r}")
        self.d, self.spiking, self.chunk = d, spiking, chunk
        self.proj = BitLinear(d, 3 * d)  # f, c, g in one ternary projection (one shared norm)
        self.out = BitLinear(d, d)
        self.spike = ATan(alpha=2.0)

    def _gates(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f_pre, c_pre, g_pre = self.proj(x).chunk(3, dim=-1)
        f = torch.sigmoid(f_pre)
        c = self.spike(c_pre) if self.spiking else F.silu(c_pre)
        return f, c, torch.sigmoid(g_pre)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        f, c, g = self._gates(x)
        h = linear_recurrence(f, (1 - f) * c, h0, self.chunk)
        return self.out(g * h), h[-1]

    def step(self, x_t: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor]:
        f, c, g = self._gates(x_t)
        h = (1 - f) * c if h is None else f * h + (1 - f) * c
        return self.out(g * h), h


class GLU(nn.Module):
    """Gated channel mixer with ternary projections: x [..., d] -> [..., d]."""

    def __init__(self, d: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 256 * -(-(8 * d // 3) // 256)
        self.up = BitLinear(d, 2 * hidden)
        self.down = BitLinear(hidden, d)

    def forward(self, x: Tensor) -> Tensor:
        g, u = self.up(x).chunk(2, dim=-1)
        return self.down(F.silu(g) * u)


class MMFreeBlock(nn.Module):
    def __init__(self, d: int, hidden: int | None, spiking: bool, chunk: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(d, 1e-6), RMSNorm(d, 1e-6)
        self.mixer = MLGRU(d, spiking, chunk)
        self.mlp = GLU(d, hidden)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, h = self.mixer(self.norm1(x), h0)
        x = x + y
        return x + self.mlp(self.norm2(x)), h

    def step(self, x_t: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor]:
        y, h = self.mixer.step(self.norm1(x_t), h)
        x_t = x_t + y
        return x_t + self.mlp(self.norm2(x_t)), h


class MatMulFreeLM(nn.Module):
    """Character/token language model: ids [T, B] (long) -> logits [T, B, vocab]."""

    def __init__(self, vocab: int, d: int = 128, layers: int = 2, hidden: int | None = None, spiking: bool = False,
                 chunk: int = 64) -> None:
        super().__init__()
        for name, v in (("vocab", vocab), ("d", d), ("layers", layers), ("chunk", chunk)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        self.config: dict[str, Any] = {"vocab": vocab, "d": d, "layers": layers, "hidden": hidden,
                                       "spiking": spiking, "chunk": chunk}
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(MMFreeBlock(d, hidden, spiking, chunk) for _ in range(layers))
        self.norm = RMSNorm(d, 1e-6)
        self.head = BitLinear(d, vocab)

    def _check(self, ids: Tensor, dims: int) -> None:
        if not isinstance(ids, Tensor) or ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"ids: expected an integer Tensor of token ids, got {getattr(ids, 'dtype', type(ids))}")
        if ids.dim() != dims:
            raise ValueError(f"ids: expected {['[B]', '[T, B]'][dims - 1]}, got shape {tuple(ids.shape)}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.embed.num_embeddings):
            raise ValueError(f"ids: expected token ids in [0, {self.embed.num_embeddings}), got "
                             f"{int(ids.min())}..{int(ids.max())}")

    def forward(self, ids: Tensor, state: list[Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
        self._check(ids, 2)
        x = self.embed(ids)
        new_state = []
        for i, block in enumerate(self.blocks):
            x, h = block(x, None if state is None else state[i])
            new_state.append(h)
        return self.head(self.norm(x)), new_state

    def step(self, ids_t: Tensor, state: list[Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
        """One token per sequence: ids_t [B] -> (logits [B, vocab], state)."""
        self._check(ids_t, 1)
        x = self.embed(ids_t)
        new_state = []
        for i, block in enumerate(self.blocks):
            x, h = block.step(x, None if state is None else state[i])
            new_state.append(h)
        return self.head(self.norm(x)), new_state

    @torch.no_grad()
    def generate(self, prompt: Tensor, length: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample ``length`` tokens after ``prompt`` [T0] (long); returns the new ids [length]."""
        if prompt.dim() != 1 or prompt.numel() == 0:
            raise ValueError(f"prompt: expected a non-empty 1-D Tensor of ids, got shape {tuple(prompt.shape)}")
        if not temperature >= 0:
            raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
        state = None
        for t in range(prompt.numel()):
            logits, state = self.step(prompt[t : t + 1], state)
        out = []
        for _ in range(length):
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, -1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            out.append(nxt)
            logits, state = self.step(nxt, state)
        return torch.cat(out)
