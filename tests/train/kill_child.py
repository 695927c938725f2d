"""Run ``spikeflow train ...`` in this process and SIGKILL it at a chosen point (for the kill tests).

    python kill_child.py POINT N -- train digits ...

POINT: "batch" (at the N-th training batch, counted over the run), "save-mid" (inside the N-th
checkpoint write, after half the bytes), "save-rename" (N-th checkpoint saved under its temporary
name, just before it replaces the old one), "after-save" (right after the N-th checkpoint).
Under torchrun, only the rank in KILL_RANK (default: every rank) dies.
"""

from __future__ import annotations

import os
import signal
import sys

import torch

torch.set_num_threads(1)


def main() -> None:
    point, n = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1:]
    rank = os.environ.get("RANK", "0")
    armed = os.environ.get("KILL_RANK", rank) == rank
    counts = {"batch": 0, "save": 0}

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    from spikeflow.train import checkpoint, trainer

    if armed and point == "batch":
        forward = trainer.Trainer._forward

        def counting_forward(self, x, y, where):  # type: ignore[no-untyped-def]
            if self.model.training:
                counts["batch"] += 1
                if counts["batch"] == n:
                    die()
            return forward(self, x, y, where)

        trainer.Trainer._forward = counting_forward  # type: ignore[method-assign]
    elif armed and point.startswith("save") or armed and point == "after-save":
        save = checkpoint.save_checkpoint
        atomic_write = checkpoint.atomic_write
        replace = os.replace

        def counting_save(path, state, keep_previous=True):  # type: ignore[no-untyped-def]
            counts["save"] += 1
            if counts["save"] == n and point == "save-mid":
                def half_then_die(target, write):  # type: ignore[no-untyped-def]
                    data = checkpoint.encode_checkpoint(state)
                    tmp = checkpoint._temp_name(target)
                    with open(checkpoint._open_new(tmp), "wb") as f:
                        f.write(data[: len(data) // 2])
                        f.flush()
                    die()

                checkpoint.atomic_write = half_then_die
            if counts["save"] == n and point == "save-rename":
                def replace_then_die(src, dst):  # type: ignore[no-untyped-def]
                    if str(src).endswith(".tmp") and os.path.basename(dst) == checkpoint.CHECKPOINT_NAME:
                        die()
                    replace(src, dst)

                os.replace = replace_then_die  # type: ignore[assignment]
            result = save(path, state, keep_previous)
            checkpoint.atomic_write = atomic_write
            if counts["save"] == n and point == "after-save":
                die()
            return result

        trainer.save_checkpoint = counting_save  # type: ignore[assignment]

    from spikeflow.cli import main as cli_main

    raise SystemExit(cli_main(argv))


if __name__ == "__main__":
    main()
