"""Datasets: bundled and generated data, returned as tensors ready for spike coding."""

from .digits import digits, digits_tensors

__all__ = ["digits", "digits_tensors"]
