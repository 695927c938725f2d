"""ANN -> SNN conversion: IF neurons with reset by subtraction, robust threshold balancing."""

from .ann2snn import activation_scales, convert, evaluate_over_time, fold_ann, relu_outputs, run_constant_input
from .signed import SignedIF, SignedIFState, signed_if_step

__all__ = ["SignedIF", "SignedIFState", "activation_scales", "convert", "evaluate_over_time", "fold_ann",
           "relu_outputs", "run_constant_input", "signed_if_step"]
