"""Reference networks used by the demo, the tutorials and the benchmarks."""

from .mlp import spiking_mlp

__all__ = ["spiking_mlp"]
