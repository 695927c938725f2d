"""Spike codes: turn data into spike trains, and class labels into target spike trains.

Every encoder returns a time-major tensor ``[T, ...]`` of spikes (0/1, or -1/0/1 for delta
with off-spikes) with the dtype and device of its input. Randomness comes only from the
``generator`` argument (or torch's global RNG when it is ``None``), so one seed gives one
output. Bad arguments raise ``ValueError``/``TypeError`` naming the argument.

    rate        Bernoulli spikes, p = gain * x + offset at every step (outside [0, 1]: error, or clip=True)
    latency     one spike per element, earlier for larger x (logarithmic or linear)
    delta       +1 / -1 spikes where a sequence rises / falls by at least a threshold
    population  Gaussian receptive fields over a scalar, as intensities or rate spikes
    rate_targets, latency_targets, to_one_hot   target codes for class labels
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from .metrics import check_class_range

__all__ = [
    "delta",
    "latency",
    "latency_targets",
    "latency_times",
    "population",
    "rate",
    "rate_targets",
    "to_one_hot",
]


# --------------------------------------------------------------------------- validation


def _tensor(name: str, x: object, floating: bool = True) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if x.device.type == "meta":
        raise ValueError(f"{name}: expected a tensor with data, got one on the meta device")
    return x


def _dtype(dtype: object, floating: bool = False) -> torch.dtype:
    """None -> the default dtype; otherwise a torch.dtype (floating if asked)."""
    if dtype is None:
        return torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype: expected a torch.dtype such as torch.float32, got {type(dtype).__name__} {dtype!r}")
    if floating and not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating-point dtype for random (Bernoulli) spikes, got {dtype}")
    return dtype


def _no_nan(name: str, x: Tensor) -> None:
    if bool(torch.isnan(x).any()):
        raise ValueError(f"{name}: expected no NaN values, got {int(torch.isnan(x).sum())} NaN element(s)")


def _int(name: str, v: object, low: int | None = None, high: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(v).__name__} {v!r}")
    out = int(v)
    if (low is not None and out < low) or (high is not None and out > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name}: expected an int in [{lo}, {hi}], got {out}")
    return out


def _real(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(v).__name__} {v!r}")
    out = float(v)
    if not math.isfinite(out):
        raise ValueError(f"{name}: expected a finite number, got {out}")
    return out


def _unit(name: str, v: object, open_low: bool = False, open_high: bool = False) -> float:
    out = _real(name, v)
    if (out < 0 or (open_low and out == 0)) or (out > 1 or (open_high and out == 1)):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise ValueError(f"{name}: expected a number in {interval}, got {out}")
    return out


def _positive(name: str, v: object) -> float:
    out = _real(name, v)
    if out <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {out}")
    return out


def _generator(generator: object, device: torch.device) -> torch.Generator | None:
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(
            f"generator: expected a generator on the data's device ({device}), got one on {generator.device}"
        )
    return generator


def _bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    # torch.bernoulli keeps p's dtype and device; a stride-0 expand is made dense first.
    return torch.bernoulli(p.contiguous(), generator=generator)


def _labels(labels: object, num_classes: object, one_dim: bool) -> tuple[Tensor, int]:
    t = _tensor("labels", labels, floating=False)
    if t.dtype == torch.bool or t.is_complex() or t.is_floating_point():
        raise TypeError(f"labels: expected an integer tensor of class indices, got dtype {t.dtype}")
    if one_dim and t.dim() != 1:
        raise ValueError(f"labels: expected shape [B] (one class index per sample), got {tuple(t.shape)}")
    n = _int("num_classes", num_classes, low=1)
    check_class_range(t, n, "labels")
    return t, n


# --------------------------------------------------------------------------- rate


def rate(
    data: Tensor,
    num_steps: int | None = None,
    gain: float = 1.0,
    offset: float = 0.0,
    time_varying: bool = False,
    generator: torch.Generator | None = None,
    clip: bool = False,
) -> Tensor:
    """Rate (Bernoulli) code.

    ``spikes[t, ...] ~ Bernoulli(p)`` independently per step and element, with
    ``p = gain * data + offset``. A p outside [0, 1] (e.g. pixels on a 0..255 scale) is a
    ValueError naming the range found; ``clip=True`` clamps p to [0, 1] instead (snnTorch's
    behaviour: p = 0 below, p = 1 above).

    data: ``[...]`` (static: repeated over ``num_steps`` steps) or, with ``time_varying=True``,
        already ``[T, ...]`` (one probability per step; ``num_steps`` must be None or T).
    Returns ``[T, ...]`` spikes in ``data``'s dtype and device. NaN in data is a ValueError.
    With the same seeded ``generator`` (or global seed) this equals snnTorch's ``spikegen.rate``.
    """
    data = _tensor("data", data)
    gain, offset = _real("gain", gain), _real("offset", offset)
    if not isinstance(time_varying, bool):
        raise TypeError(f"time_varying: expected bool, got {type(time_varying).__name__}")
    if not isinstance(clip, bool):
        raise TypeError(f"clip: expected bool, got {type(clip).__name__}")
    generator = _generator(generator, data.device)
    _no_nan("data", data)
    if time_varying:
        if data.dim() < 1:
            raise ValueError("data: expected shape [T, ...] with time_varying=True, got a 0-dim tensor")
        if num_steps is not None and _int("num_steps", num_steps, low=1) != data.shape[0]:
            raise ValueError(
                f"num_steps: expected None or data.shape[0]={data.shape[0]} with time_varying=True, got {num_steps}"
            )
        p = data
    else:
        if num_steps is None:
            raise ValueError("num_steps: expected an int >= 1 for static data (time_varying=False), got None")
        num_steps = _int("num_steps", num_steps, low=1)
        p = data.unsqueeze(0).expand(num_steps, *data.shape)
    p = p * gain + offset
    if not clip and p.numel():
        lo, hi = float(p.min()), float(p.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"data: expected gain * data + offset in [0, 1] (spike probabilities), got values in [{lo:g}, {hi:g}]"
                f" with gain={gain:g}, offset={offset:g}; rescale the data (e.g. pixels to [0, 1]) or pass clip=True"
            )
    return _bernoulli(torch.clamp(p, 0.0, 1.0), generator)


# --------------------------------------------------------------------------- latency


def _latency_core(
    data: Tensor,
    num_steps: int | None,
    tau: float,
    threshold: float,
    linear: bool,
    normalize: bool,
    first_spike_time: int,
    epsilon: float,
) -> tuple[Tensor, Tensor]:
    """Validated spike times of supra-threshold elements (inf elsewhere) and the sub-threshold mask."""
    data = _tensor("data", data)
    _no_nan("data", data)
    if data.numel() and (float(data.min()) < 0 or float(data.max()) > 1):
        raise ValueError(
            f"data: expected values in [0, 1] for a latency code, got values in "
            f"[{float(data.min())}, {float(data.max())}]"
        )
    tau = _positive("tau", tau)
    epsilon = _positive("epsilon", epsilon)
    for name, flag in (("linear", linear), ("normalize", normalize)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name}: expected bool, got {type(flag).__name__}")
    threshold = _unit("threshold", threshold, open_low=not linear, open_high=True)
    if num_steps is not None:
        num_steps = _int("num_steps", num_steps, low=1)
    first_spike_time = _int(
        "first_spike_time", first_spike_time, low=0, high=None if num_steps is None else num_steps - 1
    )
    if normalize and num_steps is None:
        raise ValueError("num_steps: expected an int >= 1 with normalize=True, got None")

    span = 0.0 if num_steps is None else float(num_steps - 1 - first_spike_time)  # used only with normalize
    sub = data <= threshold
    x = torch.where(sub, torch.ones_like(data), data)  # placeholder value keeps log finite
    if linear:
        if normalize:
            r = span * (1.0 - x) / (1.0 - threshold)
        else:
            r = tau * (1.0 - x)
    else:
        if normalize:
            if threshold + epsilon >= 1.0:
                raise ValueError(
                    f"epsilon: expected threshold + epsilon < 1 for a normalized log code, got "
                    f"threshold={threshold}, epsilon={epsilon}"
                )
            lo = threshold + epsilon
            x = torch.clamp(x, min=lo)
            t_x = torch.log(x / (x - threshold))
            t_one = math.log(1.0 / (1.0 - threshold))
            t_lo = math.log(lo / epsilon)
            r = span * torch.clamp(t_x - t_one, min=0.0) / (t_lo - t_one)
        else:
            r = tau * torch.log(x / (x - threshold))
    times = torch.where(sub, torch.full_like(r, math.inf), r + first_spike_time)
    return times, sub


def latency_times(
    data: Tensor,
    num_steps: int | None = None,
    tau: float = 1.0,
    threshold: float = 0.01,
    linear: bool = False,
    normalize: bool = False,
    clip: bool = False,
    first_spike_time: int = 0,
    epsilon: float = 1e-7,
) -> Tensor:
    """Continuous (unrounded) first-spike times of a latency code, ``inf`` for no spike.

    data: ``[...]`` intensities in [0, 1] (anything else is a ValueError). With threshold θ,
    first_spike_time s, last step L = num_steps - 1, an element x > θ spikes at

        log (default):      t = s + tau * ln(x / (x - θ))       (an RC membrane driven by x
                                                                  reaches θ at this time)
        linear:             t = s + tau * (1 - x)
        log, normalize:     t = s + (L - s) * (g(max(x, θ + ε)) - g(1)) / (g(θ + ε) - g(1)),
                            g(x) = ln(x / (x - θ))               (tau cancels out)
        linear, normalize:  t = s + (L - s) * (1 - x) / (1 - θ)  (tau is ignored)

    so with ``normalize`` x = 1 fires exactly at s and x -> θ (log: x <= θ + ε) at L,
    independently of the rest of the batch. An element x <= θ (sub-threshold) gets t = L
    when ``num_steps`` is given and ``clip`` is False, and ``inf`` (no spike) otherwise.
    Returns a tensor of ``data``'s shape, dtype and device.
    """
    times, sub = _latency_core(data, num_steps, tau, threshold, linear, normalize, first_spike_time, epsilon)
    if not isinstance(clip, bool):
        raise TypeError(f"clip: expected bool, got {type(clip).__name__}")
    if num_steps is not None and not clip:
        times = torch.where(sub, torch.full_like(times, num_steps - 1), times)
    return times


def latency(
    data: Tensor,
    num_steps: int | None,
    tau: float = 1.0,
    threshold: float = 0.01,
    linear: bool = False,
    normalize: bool = False,
    clip: bool = False,
    first_spike_time: int = 0,
    bypass: bool = False,
    epsilon: float = 1e-7,
) -> Tensor:
    """Latency (time-to-first-spike) code: exactly one spike or none per element.

    Each element spikes once, at step ``round(t)`` with t from :func:`latency_times` (nearest
    step, ties to even as ``torch.round``). Sub-threshold elements (x <= threshold) spike at the
    last step, or not at all with ``clip=True``. A supra-threshold spike later than the last
    step is a ValueError unless ``bypass=True``, which drops it; with ``bypass=True`` and
    ``num_steps=None`` the window is sized to the latest spike, ``round(max t) + 1`` steps.

    data: ``[...]`` in [0, 1]. Returns ``[T, ...]`` 0/1 spikes in ``data``'s dtype and device.
    The log code crowds bright inputs near s (x = 0.5 with θ = 0.01 charges in 0.02 tau); use
    ``linear=True``, or with ``normalize`` a larger ``epsilon``, to spread them over the window.

    Differs from snnTorch's ``spikegen.latency`` on purpose: sub-threshold elements fire at the
    last step in every mode (snnTorch: linear at s + tau (1 - θ); log at the time of θ + ε,
    an error when that is past the window); a normalized linear code reaches L as x -> θ
    (snnTorch: (L - s)(1 - θ)); a normalized log code is scaled by fixed bounds (snnTorch: by
    the batch's largest time) so x = 1 maps to s exactly; the dtype follows ``data`` (snnTorch
    issue #440, float32 out).
    """
    if not isinstance(bypass, bool):
        raise TypeError(f"bypass: expected bool, got {type(bypass).__name__}")
    if not isinstance(clip, bool):
        raise TypeError(f"clip: expected bool, got {type(clip).__name__}")
    if num_steps is None and not bypass:
        raise ValueError("num_steps: expected an int >= 1 (or bypass=True to size the window), got None")
    times, sub = _latency_core(data, num_steps, tau, threshold, linear, normalize, first_spike_time, epsilon)
    steps = torch.round(times)
    fires = torch.isfinite(steps)
    if num_steps is None:
        num_steps = int(steps[fires].max()) + 1 if bool(fires.any()) else 1
        num_steps = max(num_steps, int(first_spike_time) + 1)
    last = num_steps - 1
    late = fires & (steps > last)
    if bool(late.any()):
        if not bypass:
            raise ValueError(
                f"num_steps: spike times reach step {int(steps[late].max())} but num_steps={num_steps} "
                f"ends at step {last}; increase num_steps, decrease tau, set normalize=True, or set "
                f"bypass=True to drop late spikes"
            )
        fires = fires & ~late
    if not clip:
        steps = torch.where(sub, torch.full_like(steps, last), steps)
        fires = fires | sub
    index = torch.where(fires, steps, torch.zeros_like(steps)).long().unsqueeze(0)
    out = torch.zeros((num_steps, *data.shape), dtype=data.dtype, device=data.device)
    return out.scatter_(0, index, fires.to(data.dtype).unsqueeze(0))


# --------------------------------------------------------------------------- delta


def delta(data: Tensor, threshold: float = 0.1, off_spikes: bool = False, padding: bool = False) -> Tensor:
    """Delta (change) code of a sequence.

    With d[t] = data[t] - data[t-1] (data[-1] := 0, or := data[0] with ``padding=True`` so the
    first step never spikes): spikes[t] = +1 where d[t] >= threshold and, with ``off_spikes``,
    -1 where d[t] <= -threshold; 0 elsewhere.
    data: ``[T, ...]`` floating point. Returns ``[T, ...]`` in its dtype and device.
    Same as snnTorch's ``spikegen.delta`` (``off_spike`` there).
    """
    data = _tensor("data", data)
    if data.dim() < 1:
        raise ValueError("data: expected shape [T, ...] (a time dimension first), got a 0-dim tensor")
    threshold = _positive("threshold", threshold)
    for name, flag in (("off_spikes", off_spikes), ("padding", padding)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name}: expected bool, got {type(flag).__name__}")
    _no_nan("data", data)
    first = data[:1] if padding else torch.zeros_like(data[:1])
    d = data - torch.cat((first, data[:-1]), dim=0)
    out = (d >= threshold).to(data.dtype)
    if off_spikes:
        out = out - (d <= -threshold).to(data.dtype)
    return out


# --------------------------------------------------------------------------- population


def population(
    values: Tensor,
    num_neurons: int,
    low: float,
    high: float,
    sigma: float | None = None,
    num_steps: int | None = None,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Population code of scalars with Gaussian receptive fields.

    Neuron k has centre c_k = linspace(low, high, num_neurons)[k] (the midpoint when
    num_neurons = 1) and responds with intensity

        I_k(v) = clamp(gain * exp(-(v - c_k)^2 / (2 sigma^2)), 0, 1),

    sigma defaulting to the centre spacing (high - low) / (num_neurons - 1) (high - low for one
    neuron). Values outside [low, high] are allowed and fall on the tails.
    values: ``[...]`` floating point -> intensities ``[..., num_neurons]``; with ``num_steps``,
    Bernoulli rate spikes ``[T, ..., num_neurons]`` of those intensities (see :func:`rate`).
    """
    values = _tensor("values", values)
    num_neurons = _int("num_neurons", num_neurons, low=1)
    low, high = _real("low", low), _real("high", high)
    if not low < high:
        raise ValueError(f"high: expected high > low, got low={low}, high={high}")
    sigma = (high - low) / max(num_neurons - 1, 1) if sigma is None else _positive("sigma", sigma)
    gain = _real("gain", gain)
    if num_steps is not None:
        num_steps = _int("num_steps", num_steps, low=1)
    generator = _generator(generator, values.device)
    _no_nan("values", values)
    if num_neurons == 1:
        centres = torch.full((1,), (low + high) / 2, dtype=values.dtype, device=values.device)
    else:
        centres = torch.linspace(low, high, num_neurons, dtype=values.dtype, device=values.device)
    z = (values.unsqueeze(-1) - centres) / sigma
    intensity = torch.clamp(gain * torch.exp(-0.5 * z * z), 0.0, 1.0)
    if num_steps is None:
        return intensity
    return _bernoulli(intensity.unsqueeze(0).expand(num_steps, *intensity.shape), generator)


# --------------------------------------------------------------------------- target codes


def to_one_hot(labels: Tensor, num_classes: int, dtype: torch.dtype | None = None) -> Tensor:
    """One-hot code: integer labels ``[...]`` -> ``[..., num_classes]`` of 0/1.

    dtype defaults to ``torch.get_default_dtype()``; device follows ``labels``.
    """
    labels, num_classes = _labels(labels, num_classes, one_dim=False)
    dtype = _dtype(dtype)
    return torch.nn.functional.one_hot(labels.long(), num_classes).to(dtype)


def _regular_train(rate_: float, num_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """n = floor(rate * T + 1/2) spikes at steps floor(k * T / n), k = 0..n-1 (evenly spaced)."""
    n = min(int(math.floor(rate_ * num_steps + 0.5)), num_steps)
    train = torch.zeros(num_steps, dtype=dtype, device=device)
    if n:
        train[(torch.arange(n, device=device) * num_steps) // n] = 1
    return train


def rate_targets(
    labels: Tensor,
    num_classes: int,
    num_steps: int,
    on_rate: float = 1.0,
    off_rate: float = 0.0,
    population: int = 1,
    generator: torch.Generator | None = None,
    stochastic: bool = False,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Target spike trains of a rate code: ``[B]`` labels -> ``[T, B, num_classes * population]``.

    Output neuron j belongs to class j // population (one block of ``population`` neurons per
    class, as in snnTorch's population-code losses). The neurons of the labelled class fire at
    ``on_rate`` spikes per step, all others at ``off_rate``:
      stochastic=False (default): deterministic, n = floor(rate * T + 1/2) spikes at the evenly
        spaced steps floor(k * T / n), k = 0..n-1 (so the count is exact and step 0 fires);
      stochastic=True: independent Bernoulli(rate) spikes drawn from ``generator``.
    Passing a ``generator`` without ``stochastic=True`` is a ValueError (it would be unused).
    dtype defaults to ``torch.get_default_dtype()``; device follows ``labels``.
    """
    labels, num_classes = _labels(labels, num_classes, one_dim=True)
    num_steps = _int("num_steps", num_steps, low=1)
    on_rate, off_rate = _unit("on_rate", on_rate), _unit("off_rate", off_rate)
    population = _int("population", population, low=1)
    if not isinstance(stochastic, bool):
        raise TypeError(f"stochastic: expected bool, got {type(stochastic).__name__}")
    generator = _generator(generator, labels.device)
    if generator is not None and not stochastic:
        raise ValueError("generator: expected None unless stochastic=True (deterministic targets use no RNG)")
    dtype = _dtype(dtype, floating=stochastic)
    on = to_one_hot(labels, num_classes, dtype=torch.bool).repeat_interleave(population, dim=-1)  # [B, C*P]
    if stochastic:
        p = torch.where(
            on,
            torch.tensor(on_rate, dtype=dtype, device=labels.device),
            torch.tensor(off_rate, dtype=dtype, device=labels.device),
        )
        return _bernoulli(p.unsqueeze(0).expand(num_steps, *p.shape), generator)
    on_train = _regular_train(on_rate, num_steps, dtype, labels.device)[:, None, None]
    off_train = _regular_train(off_rate, num_steps, dtype, labels.device)[:, None, None]
    return torch.where(on.unsqueeze(0), on_train, off_train)


def latency_targets(
    labels: Tensor,
    num_classes: int,
    num_steps: int,
    on_time: int = 0,
    off_time: int | None = None,
    population: int = 1,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Target spike trains of a latency code: ``[B]`` labels -> ``[T, B, num_classes * population]``.

    Every output neuron fires exactly once: those of the labelled class at step ``on_time``,
    all others at ``off_time`` (default: the last step, num_steps - 1). Neuron j belongs to
    class j // population. dtype defaults to ``torch.get_default_dtype()``; device follows
    ``labels``.
    """
    labels, num_classes = _labels(labels, num_classes, one_dim=True)
    num_steps = _int("num_steps", num_steps, low=1)
    on_time = _int("on_time", on_time, low=0, high=num_steps - 1)
    off_time = num_steps - 1 if off_time is None else _int("off_time", off_time, low=0, high=num_steps - 1)
    population = _int("population", population, low=1)
    dtype = _dtype(dtype)
    on = to_one_hot(labels, num_classes, dtype=torch.bool).repeat_interleave(population, dim=-1)  # [B, C*P]
    step = torch.arange(num_steps, device=labels.device)[:, None, None]
    return torch.where(on.unsqueeze(0), step == on_time, step == off_time).to(dtype)


# --------------------------------------------------------------------------- audio

from .encoding_cochlea import cochlea, cochleagram  # noqa: E402  (kept in its own file)

__all__ += ["cochlea", "cochleagram"]
