"""Re-export: the state types live with their models in ``spikeflow.dynamics``."""

from ..dynamics import AdaptiveState, AlphaState, LeakyState, RLeakyState, RSynapticState, SynapticState

__all__ = ["AdaptiveState", "AlphaState", "LeakyState", "RLeakyState", "RSynapticState", "SynapticState"]
