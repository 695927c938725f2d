"""Quantization: weight and state quantizers, QAT wrapper, periodic LR schedule, integer export.

    model = sf.quant.quantize(model, weight_bits=4, state_bits=8)   # QAT in place
    sched = sf.quant.PeriodicCosineLR(optimizer, period=...)         # stepped every iteration
    codes = sf.quant.integer_weights(model)                          # integer codes + scales
    graph = sf.quant.to_nir_integer(model, input_shape)              # integer arrays in NIR
"""

from .export import from_nir_integer, integer_weights, save_integer, to_nir_integer
from .qat import FakeQuantize, dequantize, quantize, quantized_modules, weight_quantizer_of
from .schedule import PeriodicCosineLR
from .state import StateQuantizer
from .weights import (
    SCHEMES,
    BinaryQuantizer,
    IntegerWeights,
    MinifloatQuantizer,
    TernaryQuantizer,
    UniformQuantizer,
    quantization_error,
    straight_through,
    weight_quantizer,
)

__all__ = [
    "SCHEMES", "BinaryQuantizer", "FakeQuantize", "IntegerWeights", "MinifloatQuantizer", "PeriodicCosineLR",
    "StateQuantizer", "TernaryQuantizer", "UniformQuantizer", "dequantize", "from_nir_integer", "integer_weights",
    "quantization_error", "quantize", "quantized_modules", "save_integer", "straight_through", "to_nir_integer",
    "weight_quantizer", "weight_quantizer_of",
]
