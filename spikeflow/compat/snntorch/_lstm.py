"""snnTorch's spiking LSTMs: an LSTM cell whose output is the membrane of a spiking neuron.

    syn[t], mem[t] = LSTMCell(x[t], (mem[t-1], syn[t-1]))    (cell state = syn, hidden = mem)
    mem[t] -= R thr (subtract) or mem[t] *= 1 - R (zero),  R = H(mem[t-1] - thr), detached
    spk[t] = H(mem[t] - thr)                                 (default reset "none")

The gates are torch's ``nn.LSTMCell`` (SLSTM) or one ``nn.Conv2d`` over [x, mem] split into
the four gates (SConv2dLSTM); firing and reset use spikeflow's ``functional`` rules.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...functional import delayed_reset_signal, fire, make_options
from ...neurons import checks
from ...neurons.base import _as_tensor
from ._neurons import _RESET_VAL, SpikingNeuron

__all__ = ["SLSTM", "SConv2dLSTM"]


class LSTMState(NamedTuple):
    syn: Tensor
    v: Tensor


class _SpikingLSTM(SpikingNeuron, nn.Module):
    state_names = ("syn", "mem")
    same_step_quirk = False
    check_finite = True
    model = "slstm"

    def _lstm_init(self, threshold: Any, spike_grad: Any, surrogate_disable: Any, init_hidden: Any,
                   inhibition: Any, learn_threshold: Any, reset_mechanism: Any, state_quant: Any, output: Any) -> None:
        nn.Module.__init__(self)
        if checks.check_bool("inhibition", inhibition):
            raise ValueError("inhibition: not defined for the spiking LSTMs")
        if not isinstance(reset_mechanism, str) or reset_mechanism not in _RESET_VAL:
            raise ValueError(f"reset_mechanism: expected 'subtract', 'zero' or 'none', got {reset_mechanism!r}")
        surrogate = self._spike_grad(spike_grad, checks.check_bool("surrogate_disable", surrogate_disable))
        self.opts = make_options(reset_mechanism, True, None, surrogate, False)
        thr = _as_tensor("threshold", threshold)
        checks.check_nonnegative("threshold", thr, threshold)
        if checks.check_bool("learn_threshold", learn_threshold):
            self.threshold = nn.Parameter(thr)
        else:
            self.register_buffer("threshold", thr)
        self.register_buffer("graded_spikes_factor", torch.tensor(1.0))
        self._compat_init(init_hidden, output, reset_mechanism, True, state_quant, surrogate_disable)

    def _validate_state(self, fields: tuple[Tensor, ...], like: Tensor) -> Any:
        return checks.check_state(fields, LSTMState, like, "input_", False, like)

    def _state_like(self, input_: Tensor) -> Tensor:
        return torch.empty(self._state_shape(input_), dtype=input_.dtype, device=input_.device)

    def _gates(self, input_: Tensor, state: LSTMState) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _spike_input(self, mem: Tensor) -> Tensor:
        return mem

    def _advance(self, input_: Tensor, state: Any) -> tuple[Tensor, Any]:
        self._finite_verified = False
        thr = self.threshold.to(input_.dtype)
        r = delayed_reset_signal(state.v, thr, self.opts)
        syn, mem = self._gates(input_, state)
        if r is not None:
            mem = mem - r * thr if self.reset_mechanism == "subtract" else mem * (1 - r)
        if self.state_quant:
            syn, mem = self.state_quant(syn), self.state_quant(mem)
        spk = fire(self._spike_input(mem), thr, self.opts)
        return spk, LSTMState(syn, mem)

    def forward(self, input_: Tensor, syn: Tensor | None = None, mem: Tensor | None = None) -> Any:
        return self._call(input_, syn=syn, mem=mem)

    def params(self, like: Tensor) -> dict[str, Any]:
        return {}


class SLSTM(_SpikingLSTM):
    """snnTorch ``SLSTM``: ``spk, syn, mem = slstm(input_, syn, mem)``; input [B, input_size],
    states [B, hidden_size]."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, threshold: Any = 1.0,
                 spike_grad: Any = None, surrogate_disable: bool = False, init_hidden: bool = False,
                 inhibition: bool = False, learn_threshold: bool = False, reset_mechanism: str = "none",
                 state_quant: Any = False, output: bool = False) -> None:
        self._lstm_init(threshold, spike_grad, surrogate_disable, init_hidden, inhibition, learn_threshold,
                        reset_mechanism, state_quant, output)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.lstm_cell = nn.LSTMCell(input_size, hidden_size, bias=bias)

    def _state_shape(self, input_: Tensor) -> tuple[int, ...]:
        if input_.dim() != 2 or input_.shape[1] != self.input_size:
            raise ValueError(f"input_: expected shape [B, {self.input_size}], got {tuple(input_.shape)}")
        return (input_.shape[0], self.hidden_size)

    def _gates(self, input_: Tensor, state: LSTMState) -> tuple[Tensor, Tensor]:
        mem, syn = self.lstm_cell(input_, (state.v, state.syn))
        return syn, mem

    def init_slstm(self) -> tuple[Tensor, Tensor]:
        return self.reset_mem()


class SConv2dLSTM(_SpikingLSTM):
    """snnTorch ``SConv2dLSTM``: convolutional LSTM gates (one Conv2d over [x, mem]); input
    [B, in_channels, H, W], states [B, out_channels, H, W]; optional max/avg pooling of the
    membrane before firing."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, bias: bool = True,
                 max_pool: Any = 0, avg_pool: Any = 0, threshold: Any = 1.0, spike_grad: Any = None,
                 surrogate_disable: bool = False, init_hidden: bool = False, inhibition: bool = False,
                 learn_threshold: bool = False, reset_mechanism: str = "none", state_quant: Any = False,
                 output: bool = False) -> None:
        self._lstm_init(threshold, spike_grad, surrogate_disable, init_hidden, inhibition, learn_threshold,
                        reset_mechanism, state_quant, output)
        if max_pool and avg_pool:
            raise ValueError("max_pool, avg_pool: give at most one of them")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.max_pool, self.avg_pool, self.bias = max_pool, avg_pool, bias
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        pad = (ks[0] // 2, ks[1] // 2)
        self.padding = pad
        self.conv = nn.Conv2d(in_channels + out_channels, 4 * out_channels, kernel_size, padding=pad, bias=bias)

    def _state_shape(self, input_: Tensor) -> tuple[int, ...]:
        if input_.dim() != 4 or input_.shape[1] != self.in_channels:
            raise ValueError(f"input_: expected shape [B, {self.in_channels}, H, W], got {tuple(input_.shape)}")
        return (input_.shape[0], self.out_channels, input_.shape[2], input_.shape[3])

    def _gates(self, input_: Tensor, state: LSTMState) -> tuple[Tensor, Tensor]:
        gates = self.conv(torch.cat([input_, state.v], dim=1))
        i, f, o, g = torch.split(gates, self.out_channels, dim=1)
        syn = torch.sigmoid(f) * state.syn + torch.sigmoid(i) * torch.tanh(g)
        return syn, torch.sigmoid(o) * torch.tanh(syn)

    def _spike_input(self, mem: Tensor) -> Tensor:
        if self.max_pool:
            return F.max_pool2d(mem, self.max_pool)
        if self.avg_pool:
            return F.avg_pool2d(mem, self.avg_pool)
        return mem

    def init_sconv2dlstm(self) -> tuple[Tensor, Tensor]:
        return self.reset_mem()
