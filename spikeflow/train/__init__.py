"""Training: the Trainer loop, atomic checkpoints, seeding. The command-line tasks live in
``spikeflow.train.tasks`` (imported by the CLI, not here)."""

from .checkpoint import atomic_write, load_checkpoint, save_checkpoint, write_json
from .seed import get_rng_state, seed_everything, set_rng_state
from .trainer import Trainer

__all__ = [
    "Trainer", "atomic_write", "get_rng_state", "load_checkpoint", "save_checkpoint", "seed_everything",
    "set_rng_state", "write_json",
]
