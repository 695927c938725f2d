"""Training: the Trainer loop, atomic checkpoints, seeding. The command-line tasks live in
``spikeflow.train.tasks`` (imported by the CLI, not here)."""

from .batches import TensorBatches
from .checkpoint import (
    CheckpointError,
    atomic_write,
    load_checkpoint,
    load_latest_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
    write_json,
)
from .rundir import prepare_run_dir
from .schedule import CosineSchedule
from .seed import get_rng_state, seed_everything, set_rng_state
from .trainer import Step, Trainer

__all__ = [
    "CheckpointError", "CosineSchedule", "Step", "TensorBatches", "Trainer", "atomic_write", "get_rng_state",
    "load_checkpoint", "load_latest_checkpoint", "prepare_run_dir", "remove_stale_temp_files", "save_checkpoint",
    "seed_everything", "set_rng_state", "write_json",
]
