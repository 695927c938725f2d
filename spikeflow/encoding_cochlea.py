"""Audio front end: waveform -> spikes through a model cochlea (exposed as ``sf.encoding.cochlea``).

Stages, in the order SHD's front end used them (Cramer et al. 2020), each a plain function:

    gammatone filterbank  y_c = h_c * x, h_c(t) = t^3 e^{-2 pi 1.019 ERB(f_c) t} cos(2 pi f_c t),
                          centre frequencies f_c equally spaced on the ERB-rate scale
                          (Glasberg & Moore 1990: ERB(f) = 24.7 (4.37 f / 1000 + 1)), unit gain at f_c
    half-wave rectification and compression   r_c = max(y_c, 0) ** exponent
    hair-cell low-pass      e_c[t] = mean of r_c over the samples of step t (step dt seconds)
    spiking neurons         spikeflow's own Leaky neuron, v[t] = beta v[t-1] + gain e_c[t] - s[t-1] thr

``cochlea(waveform [B, samples], sample_rate)`` returns spikes ``[T, B, channels * neurons_per_channel]``
with T = ceil(samples / (dt * sample_rate)). With several neurons per channel their thresholds
grow geometrically (factor ``threshold_ratio``), so louder sound recruits more neurons.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["cochlea", "cochleagram", "erb_space", "gammatone_filterbank", "gammatone_kernels"]


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite positive number, got {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def erb(f_hz: Tensor) -> Tensor:
    """Equivalent rectangular bandwidth (Hz) of the auditory filter at f_hz (Glasberg & Moore)."""
    return 24.7 * (4.37e-3 * f_hz + 1.0)


def erb_space(f_low: float, f_high: float, channels: int) -> Tensor:
    """``channels`` centre frequencies (Hz, float64, ascending) equally spaced on the ERB-rate scale."""
    f_low, f_high = _positive("f_low", f_low), _positive("f_high", f_high)
    channels = _count("channels", channels)
    if not f_high > f_low:
        raise ValueError(f"f_high: expected > f_low={f_low}, got {f_high}")

    def rate(f: float) -> float:
        return 21.4 * math.log10(4.37e-3 * f + 1.0)

    e = torch.linspace(rate(f_low), rate(f_high), channels, dtype=torch.float64)
    return (10.0 ** (e / 21.4) - 1.0) / 4.37e-3


def gammatone_kernels(centre_hz: Tensor, sample_rate: float, duration: float = 0.05) -> Tensor:
    """Impulse responses [C, L] (float64) of 4th-order gammatone filters, each with gain 1 at its centre."""
    sample_rate = _positive("sample_rate", sample_rate)
    duration = _positive("duration", duration)
    fc = torch.as_tensor(centre_hz, dtype=torch.float64).reshape(-1, 1)
    if bool((fc >= sample_rate / 2).any()):
        raise ValueError(f"centre_hz: expected every centre below Nyquist {sample_rate / 2} Hz, got max {fc.max():.1f}")
    t = torch.arange(max(int(round(duration * sample_rate)), 2), dtype=torch.float64) / sample_rate
    b = 2 * math.pi * 1.019 * erb(fc)
    h = t**3 * torch.exp(-b * t) * torch.cos(2 * math.pi * fc * t)
    # gain at the centre frequency: |sum_k h[k] e^{-i 2 pi f_c k / sr}|
    phase = 2 * math.pi * fc * t
    gain = torch.sqrt((h * torch.cos(phase)).sum(1) ** 2 + (h * torch.sin(phase)).sum(1) ** 2)
    return h / gain[:, None]


def gammatone_filterbank(waveform: Tensor, kernels: Tensor) -> Tensor:
    """Causal FIR filtering by FFT: waveform [B, S], kernels [C, L] -> band signals [B, C, S]."""
    n = waveform.shape[-1] + kernels.shape[-1] - 1
    n_fft = 1 << (n - 1).bit_length()
    wf = torch.fft.rfft(waveform.to(kernels.dtype), n_fft)  # [B, F]
    kf = torch.fft.rfft(kernels, n_fft)  # [C, F]
    return torch.fft.irfft(wf[:, None, :] * kf[None], n_fft)[..., : waveform.shape[-1]]


def _check_waveform(waveform: object) -> Tensor:
    if not isinstance(waveform, Tensor) or not waveform.is_floating_point():
        got = f"{type(waveform).__name__}" + (f" of dtype {waveform.dtype}" if isinstance(waveform, Tensor) else "")
        raise TypeError(f"waveform: expected a floating-point torch.Tensor [B, samples], got {got}")
    if waveform.dim() != 2 or waveform.shape[1] < 2:
        raise ValueError(f"waveform: expected shape [B, samples] with samples >= 2, got {tuple(waveform.shape)}")
    if not bool(torch.isfinite(waveform).all()):
        raise ValueError("waveform: expected finite values, got NaN or inf")
    return waveform


def cochleagram(
    waveform: Tensor,
    sample_rate: float,
    *,
    channels: int = 64,
    f_low: float = 100.0,
    f_high: float | None = None,
    dt: float = 0.005,
    exponent: float = 0.3,
    normalize: bool = True,
    batch_chunk: int = 32,
) -> Tensor:
    """Rectified, compressed, low-passed filterbank output [T, B, channels] (float32, >= 0).

    ``f_high`` defaults to min(8000, 0.45 sample_rate). ``normalize`` scales each waveform to unit
    RMS first (so the code ignores recording level).
    T = ceil(samples / round(dt * sample_rate)); a last partial step is averaged over its samples.
    """
    waveform = _check_waveform(waveform)
    sample_rate, dt = _positive("sample_rate", sample_rate), _positive("dt", dt)
    exponent = _positive("exponent", exponent)
    if f_high is None:
        f_high = min(8000.0, 0.45 * sample_rate)
    if f_high >= sample_rate / 2:
        raise ValueError(f"f_high: expected below Nyquist {sample_rate / 2} Hz (sample_rate {sample_rate}), "
                         f"got {f_high}")
    hop = int(round(dt * sample_rate))
    if hop < 1:
        raise ValueError(f"dt: expected at least one sample per step (dt * sample_rate >= 0.5), got dt={dt}")
    kernels = gammatone_kernels(erb_space(f_low, f_high, channels), sample_rate).float().to(waveform.device)
    x = waveform.float()
    if normalize:
        x = x / x.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-12)
    out = []
    for k in range(0, x.shape[0], _count("batch_chunk", batch_chunk)):
        y = gammatone_filterbank(x[k : k + batch_chunk], kernels)  # [b, C, S]
        r = y.clamp_min(0.0).pow(exponent)
        # mean over each step's samples (ceil_mode keeps the last partial step, averaged over what it has)
        out.append(F.avg_pool1d(r, hop, hop, ceil_mode=True))
    return torch.cat(out, 0).permute(2, 0, 1).contiguous()  # [T, B, C]


def cochlea(
    waveform: Tensor,
    sample_rate: float,
    *,
    channels: int = 64,
    f_low: float = 100.0,
    f_high: float | None = None,
    dt: float = 0.005,
    exponent: float = 0.3,
    normalize: bool = True,
    gain: float = 2.0,
    tau_mem: float = 0.01,
    threshold: float = 1.0,
    neurons_per_channel: int = 1,
    threshold_ratio: float = 2.0,
) -> Tensor:
    """Waveform [B, samples] -> spikes [T, B, channels * neurons_per_channel] (float32, 0/1).

    The cochleagram (see :func:`cochleagram`) times ``gain`` drives Leaky neurons with
    beta = exp(-dt / tau_mem) and subtractive reset; neuron k of a channel has threshold
    ``threshold * threshold_ratio ** k``. Output feature index = channel * neurons_per_channel + k.
    """
    from .neurons import Leaky

    gain, tau_mem = _positive("gain", gain), _positive("tau_mem", tau_mem)
    threshold, threshold_ratio = _positive("threshold", threshold), _positive("threshold_ratio", threshold_ratio)
    k = _count("neurons_per_channel", neurons_per_channel)
    env = cochleagram(waveform, sample_rate, channels=channels, f_low=f_low, f_high=f_high, dt=dt,
                      exponent=exponent, normalize=normalize)
    drive = (gain * env).repeat_interleave(k, dim=-1)  # [T, B, C*k]
    thresholds = (threshold * threshold_ratio ** torch.arange(k, dtype=torch.float32)).repeat(channels)
    neuron = Leaky(beta=math.exp(-dt / tau_mem), threshold=thresholds.to(drive.device), reset="subtract")
    with torch.no_grad():
        spikes, _ = neuron(drive)
    return spikes
