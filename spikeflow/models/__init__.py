"""Reference networks used by the demo, the tutorials and the benchmarks."""

from .cnn import load_nir_weights, mnist_scnn, nmnist_cnn, vgg_snn
from .mlp import spiking_mlp
from .rsnn import shd_rsnn

__all__ = ["load_nir_weights", "mnist_scnn", "nmnist_cnn", "shd_rsnn", "spiking_mlp", "vgg_snn"]
