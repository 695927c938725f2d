"""snnTorch's ``functional`` (imported as ``SF``): losses, accuracy, regularization, quantization."""

from . import acc, loss, quant, reg
from .acc import accuracy_rate
from .loss import ce_count_loss, ce_max_membrane_loss, ce_rate_loss, mse_count_loss, mse_membrane_loss
from .quant import state_quant
from .reg import l1_rate_sparsity

__all__ = [
    "acc", "loss", "quant", "reg", "accuracy_rate", "ce_count_loss", "ce_max_membrane_loss", "ce_rate_loss",
    "mse_count_loss", "mse_membrane_loss", "state_quant", "l1_rate_sparsity",
]
