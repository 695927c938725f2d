"""The LIF family: Leaky (and IF), Lapicque, Synaptic, LI and CUBA-LI.

State, reference steps (torch) and the per-neuron rows the fused kernels compile. Per neuron,
with inp = x[t] (first order) or i[t] = alpha i[t-1] + x[t] (second order) and the delayed
reset signal r = H(v[t-1] - thr):

    u[t] = beta v[t-1] + inp[t] - r thr          (subtract)
    u[t] = beta (1 - r) v[t-1] + inp[t]          (zero, keeps the input: Leaky)
    u[t] = (beta v[t-1] + inp[t]) (1 - r)        (zero, clears the input: Synaptic, Lapicque)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from .options import SpikeOptions
from .spec import ModelSpec, register
from .spiking import delayed_reset_signal, fire, quantize_membrane, reset_fire, same_step_reset


class LeakyState(NamedTuple):
    """First-order models (Leaky, IF, Lapicque, LI): membrane v [B, ...]."""

    v: Tensor


class SynapticState(NamedTuple):
    """Current-based models (Synaptic, LI with a synapse): current i, membrane v."""

    i: Tensor
    v: Tensor


# -- reference steps (torch) ---------------------------------------------------------------
def first_order_step(
    x: Tensor,
    state: LeakyState,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
    zero_keeps_input: bool = True,
) -> tuple[Tensor, LeakyState]:
    """One step of a first-order LIF neuron.

        R[t] = H(v[t-1] - thr)                        (delayed reset only)
        v[t] = beta v[t-1] + x[t] - R[t] thr          (reset "subtract")
        v[t] = beta (1 - R[t]) v[t-1] + x[t]          (reset "zero", zero_keeps_input)
        v[t] = (beta v[t-1] + x[t]) (1 - R[t])        (reset "zero", not zero_keeps_input)
        S[t] = H(v[t] - thr);  output = graded * S[t]
        same-step reset (reset_delay False): v[t] -= S[t] thr  or  v[t] *= 1 - S[t]

    x, state.v: [B, ...]; beta, threshold, graded: scalars or broadcastable per-neuron tensors.
    """
    v_prev = state.v
    r = delayed_reset_signal(v_prev, threshold, opts)
    if r is None:
        v = beta * v_prev + x
    elif opts.reset == "subtract":
        v = beta * v_prev + x - r * threshold
    elif zero_keeps_input:
        v = beta * (1 - r) * v_prev + x
    else:
        v = (beta * v_prev + x) * (1 - r)
    v = quantize_membrane(v, opts)
    spikes = fire(v, threshold, opts)
    v = same_step_reset(v, spikes, threshold, opts)
    return spikes * graded, LeakyState(v)


def leaky_step(
    x: Tensor, state: LeakyState, beta: Tensor, threshold: Tensor, graded: Tensor | float, opts: SpikeOptions
) -> tuple[Tensor, LeakyState]:
    """Leaky (snnTorch ``snn.Leaky``): first_order_step with the zero reset keeping the input."""
    return first_order_step(x, state, beta, threshold, graded, opts, zero_keeps_input=True)


def lapicque_step(
    x: Tensor,
    state: LeakyState,
    decay: Tensor,
    gain: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
) -> tuple[Tensor, LeakyState]:
    """Lapicque RC neuron (forward Euler of C dv/dt = -v/R + I), as snnTorch's ``Lapicque``:

        v[t] = (1 - dt/(R C)) v[t-1] + (dt/C) x[t]   (decay = 1 - dt/(RC), gain = dt/C)

    with the reset rules of first_order_step (zero reset clears the input too).
    """
    return first_order_step(gain * x, state, decay, threshold, graded, opts, zero_keeps_input=False)


def synaptic_step(
    x: Tensor,
    state: SynapticState,
    alpha: Tensor,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
) -> tuple[Tensor, SynapticState]:
    """One step of a current-based LIF neuron (snnTorch ``snn.Synaptic``).

        i[t] = alpha i[t-1] + x[t]
        v[t] = beta v[t-1] + i[t] - R[t] thr        (subtract; R[t] = H(v[t-1] - thr))
        v[t] = (beta v[t-1] + i[t]) (1 - R[t])      (zero; the current is not reset)
        S[t] = H(v[t] - thr); same-step reset as in first_order_step.

    x, state.i, state.v: [B, ...].
    """
    r = delayed_reset_signal(state.v, threshold, opts)
    i = alpha * state.i + x
    v = beta * state.v + i
    spikes, v = reset_fire(v, r, threshold, opts)
    return spikes * graded, SynapticState(i, v)


def li_step(x: Tensor, state: LeakyState, beta: Tensor) -> tuple[Tensor, LeakyState]:
    """v[t] = beta v[t-1] + x[t]; output v[t]. x, state.v: [B, ...]."""
    v = beta * state.v + x
    return v, LeakyState(v)


def cuba_li_step(x: Tensor, state: SynapticState, alpha: Tensor, beta: Tensor) -> tuple[Tensor, SynapticState]:
    """i[t] = alpha i[t-1] + x[t];  v[t] = beta v[t-1] + i[t]; output v[t]."""
    i = alpha * state.i + x
    v = beta * state.v + i
    return v, SynapticState(i, v)


# -- rows (see spikeflow.dynamics.spec for the contract) -----------------------------------
def leaky_row(x: Any, v: Any, r: Any, beta: Any, threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    """u = beta (1 - dz r) v + x - ds r thr: each reset rule of first_order_step, bit for bit."""
    u = beta * (one - dz * r) * v + x - ds * r * threshold
    return u, threshold


def leaky_row_vjp(du: Any, db: Any, x: Any, v: Any, r: Any, beta: Any, threshold: Any, ds: Any, dz: Any,
                  one: Any) -> Any:
    k = one - dz * r
    dr = -(du * (beta * dz * v + ds * threshold))
    return du, du * beta * k, dr, du * k * v, db - du * ds * r


def clear_row(x: Any, v: Any, r: Any, beta: Any, threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    """u = (beta v + x - ds r thr)(1 - dz r): a zero reset that clears the input (Lapicque)."""
    u = (beta * v + x - ds * r * threshold) * (one - dz * r)
    return u, threshold


def clear_row_vjp(du: Any, db: Any, x: Any, v: Any, r: Any, beta: Any, threshold: Any, ds: Any, dz: Any,
                  one: Any) -> Any:
    k = one - dz * r
    w = beta * v + x - ds * r * threshold
    dw = du * k
    dr = -(dw * ds * threshold) - du * dz * w
    return dw, dw * beta, dr, dw * v, db - dw * ds * r


def synaptic_row(x: Any, i: Any, v: Any, r: Any, alpha: Any, beta: Any, threshold: Any, ds: Any, dz: Any,
                 one: Any) -> Any:
    """i' = alpha i + x;  u = (beta v + i' - ds r thr)(1 - dz r)."""
    cur = alpha * i + x
    u = (beta * v + cur - ds * r * threshold) * (one - dz * r)
    return u, threshold, cur


def synaptic_row_vjp(du: Any, db: Any, dcur: Any, x: Any, i: Any, v: Any, r: Any, alpha: Any, beta: Any,
                     threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    cur = alpha * i + x
    k = one - dz * r
    w = beta * v + cur - ds * r * threshold
    dw = du * k
    dc = dw + dcur
    dr = -(dw * ds * threshold) - du * dz * w
    return dc, dc * alpha, dw * beta, dr, dc * i, dw * v, db - dw * ds * r


def li_row(x: Any, v: Any, r: Any, beta: Any, ds: Any, dz: Any, one: Any) -> Any:
    u = beta * v + x
    return u, u


def li_row_vjp(du: Any, db: Any, x: Any, v: Any, r: Any, beta: Any, ds: Any, dz: Any, one: Any) -> Any:
    return du, du * beta, du - du, du * v


def cuba_li_row(x: Any, i: Any, v: Any, r: Any, alpha: Any, beta: Any, ds: Any, dz: Any, one: Any) -> Any:
    cur = alpha * i + x
    u = beta * v + cur
    return u, u, cur


def cuba_li_row_vjp(du: Any, db: Any, dcur: Any, x: Any, i: Any, v: Any, r: Any, alpha: Any, beta: Any, ds: Any,
                    dz: Any, one: Any) -> Any:
    dc = du + dcur
    return dc, dc * alpha, du * beta, du - du, dc * i, du * v


def _lapicque_prepare(x: Tensor, p: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
    return p["gain"] * x, {"beta": p["decay"], "threshold": p["threshold"]}


_SPIKE = ("threshold", "graded")
LEAKY = register(ModelSpec(
    "leaky", LeakyState, ("beta", *_SPIKE),
    lambda x, s, opts, beta, threshold, graded: leaky_step(x, s, beta, threshold, graded, opts),
    leaky_row, leaky_row_vjp, ("beta", "threshold"),
))
LAPICQUE = register(ModelSpec(
    "lapicque", LeakyState, ("decay", "gain", *_SPIKE),
    lambda x, s, opts, decay, gain, threshold, graded: lapicque_step(x, s, decay, gain, threshold, graded, opts),
    clear_row, clear_row_vjp, ("beta", "threshold"), prepare=_lapicque_prepare,
))
SYNAPTIC = register(ModelSpec(
    "synaptic", SynapticState, ("alpha", "beta", *_SPIKE),
    lambda x, s, opts, alpha, beta, threshold, graded: synaptic_step(x, s, alpha, beta, threshold, graded, opts),
    synaptic_row, synaptic_row_vjp, ("alpha", "beta", "threshold"),
))
LI = register(ModelSpec(
    "li", LeakyState, ("beta",), lambda x, s, opts, beta: li_step(x, s, beta),
    li_row, li_row_vjp, ("beta",), spiking=False,
))
CUBA_LI = register(ModelSpec(
    "cuba_li", SynapticState, ("alpha", "beta"), lambda x, s, opts, alpha, beta: cuba_li_step(x, s, alpha, beta),
    cuba_li_row, cuba_li_row_vjp, ("alpha", "beta"), spiking=False,
))
