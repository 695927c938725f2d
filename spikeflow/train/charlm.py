"""``spikeflow train charlm``: a MatMul-free (ternary) character language model on the Python
standard library's source, scored in validation bits per character against bigram and unigram
baselines; ``spikeflow generate RUN_DIR`` samples text from its checkpoint.

Under torchrun, ``--distributed`` trains data-parallel (DDP) and ``--distributed --fsdp`` shards
every block's parameters and the AdamW state across the processes with FSDP2 (``fully_shard``;
gloo on CPU, nccl on CUDA); checkpoints hold the full state dict either way, so a run resumes
exactly and ``spikeflow generate`` reads it. A global batch holds the same windows for any
number of processes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Subset

from .argtypes import positive_float, positive_int
from .schedule import CosineSchedule

VOCAB_NAME = "vocab.json"


def _loss(out: Tensor, y: Tensor) -> Tensor:
    """out [T, B, V], y [B, T] -> mean cross entropy (nats per character)."""
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.t().reshape(-1))


def _accuracy(out: Tensor, y: Tensor) -> Tensor:
    return (out.argmax(-1) == y.t()).double().mean()


def _time_major(x: Tensor) -> Tensor:
    return x.t().contiguous()


class StepCosine(CosineSchedule):
    """:class:`CosineSchedule` stepped after every optimizer step (``epochs * steps_per_epoch``
    steps in all); ``set_total_epochs`` re-plans in epochs, so more ``--epochs`` on resume
    continue the decay instead of restarting it."""

    def __init__(self, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> None:
        self.steps_per_epoch = steps_per_epoch
        super().__init__(optimizer, epochs * steps_per_epoch)

    def set_total_epochs(self, total_epochs: int) -> None:
        super().set_total_epochs(total_epochs * self.steps_per_epoch)


def build_model(config: dict[str, Any]) -> torch.nn.Module:
    from ..models.mmfree_lm import MatMulFreeLM

    return MatMulFreeLM(config["vocab"], d=config["d"], layers=config["layers"], spiking=config["spiking"],
                        chunk=config.get("chunk", 16))


class CharLMTask:
    name = "charlm"
    help = "MatMul-free ternary character LM on the Python standard library's source (bits per char vs bigram)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from .tasks import add_common_arguments  # here, not at import: tasks imports this module to register it

        add_common_arguments(parser, epochs=4, out="runs/charlm")
        # --width first: torchrun rejects "--d" as an ambiguous abbreviation of its own options
        parser.add_argument("--width", "--d", dest="d", type=positive_int, default=128,
                            help="model width (default 128)")
        parser.add_argument("--layers", type=positive_int, default=2, help="blocks (default 2)")
        parser.add_argument("--spiking", action="store_true", help="binary spiking activations in the token mixer")
        parser.add_argument("--seq-len", type=positive_int, default=128, help="characters per window (default 128)")
        parser.add_argument("--batch-size", type=positive_int, default=32, help="windows per batch (default 32)")
        parser.add_argument("--steps-per-epoch", type=positive_int, default=100,
                            help="optimizer steps per epoch, on windows drawn without replacement (default 100)")
        parser.add_argument("--max-chars", type=positive_int, default=1_700_000,
                            help="corpus size in characters (default 1,700,000)")
        parser.add_argument("--val-windows", type=positive_int, default=64,
                            help="validation windows scored each epoch (default 64)")
        parser.add_argument("--lr", type=positive_float, default=3e-3, help="AdamW learning rate (default 3e-3)")
        parser.add_argument("--distributed", action="store_true",
                            help="data-parallel over the processes torchrun starts (gloo on CPU, nccl on GPU); "
                                 "--batch-size is the global batch")
        parser.add_argument("--fsdp", action="store_true",
                            help="with --distributed: shard parameters, gradients and optimizer state across the "
                                 "processes (FSDP2, torch.distributed.fsdp.fully_shard) instead of replicating them")

    def run(self, args: argparse.Namespace) -> dict[str, Any]:
        from . import distributed as sfd

        if args.fsdp and not args.distributed:
            raise ValueError("--fsdp: needs --distributed (under torchrun)")
        with sfd.session(args.distributed, args.device) as ctx:
            return self._train(args, ctx)

    def _train(self, args: argparse.Namespace, ctx: Any) -> dict[str, Any]:
        from ..data.charcorpus import CharCorpus, CharWindows, stdlib_corpus
        from . import distributed as sfd
        from .checkpoint import write_json
        from .seed import seed_everything
        from .trainer import Trainer

        started = time.perf_counter()
        out_dir = Path(args.out)
        generator = seed_everything(args.seed)
        corpus = CharCorpus(stdlib_corpus(args.max_chars))
        train = CharWindows(corpus.train_ids, args.seq_len)
        val = CharWindows(corpus.val_ids, args.seq_len)
        val = Subset(val, range(min(len(val), args.val_windows if args.limit is None else args.limit)))
        samples = args.steps_per_epoch * args.batch_size
        if args.limit is not None:
            samples = min(samples, args.limit)
        if samples > len(train):
            raise ValueError(f"--steps-per-epoch: {args.steps_per_epoch} x {args.batch_size} windows exceed the "
                             f"{len(train)} training windows; lower it or raise --max-chars")
        train_loader, val_loader = sfd.task_loaders(train, val, args.batch_size, ctx, seed=args.seed,
                                                    generator=generator, test_batch_size=args.batch_size,
                                                    num_samples=samples)
        config = {"vocab": len(corpus.vocab), "d": args.d, "layers": args.layers, "spiking": args.spiking,
                  "chunk": 64}
        model = build_model(config)
        parameters = sum(p.numel() for p in model.parameters())
        if args.fsdp:
            sfd.shard(model, ctx, units=list(model.blocks))  # one FSDP unit per block, the rest is the root
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)  # after sharding: over the shards
        scheduler = StepCosine(optimizer, args.epochs, len(train_loader))
        if ctx.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / VOCAB_NAME).write_text(json.dumps({"vocab": corpus.vocab, "model": config}), encoding="utf-8")
        info = {"task": self.name, "config": {k: v for k, v in vars(args).items() if k not in ("func", "command")},
                "model": config, "corpus_sha256": corpus.sha256, "corpus_chars": len(corpus.text),
                "parameters": parameters}
        trainer = Trainer(model, optimizer, _loss, _accuracy, scheduler=scheduler, scheduler_interval="step",
                          encode=_time_major, device=args.device, out_dir=out_dir, seed=args.seed,
                          grad_clip=1.0, progress=False if args.no_progress else None, info=info,
                          distributed=ctx.distributed)
        result = trainer.fit(train_loader, val_loader, epochs=args.epochs, resume=args.resume)
        if sfd.is_sharded(trainer.model):  # sample from an unsharded copy (a collective: every rank)
            full = sfd.model_state(trainer.model)
            model = build_model(config)
            if ctx.is_main:
                model.load_state_dict(full)
        if not ctx.is_main:
            return result
        result["val_bits_per_char"] = result["test_loss"] / math.log(2)
        result["bigram_bits_per_char"] = corpus.bigram_bits_per_char()
        result["unigram_bits_per_char"] = corpus.unigram_bits_per_char()
        result["sample"] = generate_text(model, corpus.vocab, "def ", 120, 0.8, args.seed)
        result["total_seconds"] = time.perf_counter() - started
        write_json(out_dir / "metrics.json", result)
        return result


def generate_text(model: torch.nn.Module, vocab: str, prompt: str, length: int, temperature: float,
                  seed: int) -> str:
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted(set(prompt) - set(index))
    if missing:
        raise ValueError(f"prompt: characters not in the model's vocabulary: {missing!r}")
    ids = torch.tensor([index[c] for c in prompt], dtype=torch.long)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    new = model.generate(ids.to(device), length, temperature, torch.Generator(device=device).manual_seed(seed))
    model.train(was_training)
    return prompt + "".join(vocab[int(i)] for i in new)


def generate_from_run(run_dir: str | Path, prompt: str, length: int = 200, temperature: float = 0.8,
                      seed: int = 0) -> str:
    """Sample text from ``RUN_DIR/checkpoint.pt`` of a charlm run."""
    from .checkpoint import CHECKPOINT_NAME, load_checkpoint

    run = Path(run_dir)
    meta_path = run / VOCAB_NAME
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not found ({run} is not a charlm run directory)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = build_model(meta["model"])
    checkpoint = load_checkpoint(run / CHECKPOINT_NAME)
    model.load_state_dict(checkpoint["model"])
    return generate_text(model, meta["vocab"], prompt, length, temperature, seed)


def add_generate_parser(commands: Any) -> None:
    gen = commands.add_parser("generate", help="sample text from a charlm run's checkpoint",
                              description="Sample text from RUN_DIR/checkpoint.pt of `spikeflow train charlm`.")
    gen.add_argument("run_dir", metavar="RUN_DIR")
    gen.add_argument("--prompt", default="def ", help="text to start from (default 'def ')")
    gen.add_argument("--length", type=positive_int, default=200, help="characters to sample (default 200)")
    gen.add_argument("--temperature", type=float, default=0.8, help="sampling temperature, 0 = greedy (default 0.8)")
    gen.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")


def register(tasks: dict) -> None:
    from .tasks import register_task

    register_task(CharLMTask())
