"""Explicit neuron state containers. Plain NamedTuples: no buffers, no registries."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class LeakyState(NamedTuple):
    """First-order models (Leaky, IF, Lapicque, LI): membrane v [B, ...]."""

    v: Tensor


class SynapticState(NamedTuple):
    """Current-based models (Synaptic, LI with a synapse): current i, membrane v."""

    i: Tensor
    v: Tensor


class AlphaState(NamedTuple):
    """Alpha neuron: excitatory and inhibitory currents, membrane."""

    i_exc: Tensor
    i_inh: Tensor
    v: Tensor


class AdaptiveState(NamedTuple):
    """Adaptive-threshold LIF: membrane v, adaptation a, last spike z (0/1)."""

    v: Tensor
    a: Tensor
    z: Tensor


class RLeakyState(NamedTuple):
    """Recurrent Leaky: last output spike s (fed back), membrane v."""

    s: Tensor
    v: Tensor


class RSynapticState(NamedTuple):
    """Recurrent Synaptic: last output spike s, current i, membrane v."""

    s: Tensor
    i: Tensor
    v: Tensor
