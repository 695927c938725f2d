"""Re-export of ``spikeflow.dynamics.options``."""

from ..dynamics.options import RESET_MODES, SpikeOptions, make_options

__all__ = ["RESET_MODES", "SpikeOptions", "make_options"]
