"""Datasets: bundled and generated data, returned as tensors ready for spike coding."""

from .digits import digits, digits_tensors
from .mnist5k import latency_times, mnist5k
from .yinyang import encode_times, yinyang

__all__ = ["digits", "digits_tensors", "encode_times", "latency_times", "mnist5k", "yinyang"]
