"""A character corpus found offline: the Python standard library's own source files.

``stdlib_corpus(max_chars)`` concatenates the top-level ``.py`` files of this interpreter's
standard library in sorted name order until ``max_chars``; ``CharCorpus`` maps it to ids,
splits it 90/10 (contiguous: train first) and serves ``(input, target)`` windows.
The text depends on the Python version: ``sha256`` identifies it in metrics.
"""

from __future__ import annotations

import hashlib
import math
import sysconfig
from collections import Counter
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset


def stdlib_corpus(max_chars: int = 1_700_000, folder: str | Path | None = None) -> str:
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1000:
        raise ValueError(f"max_chars: expected an int >= 1000, got {max_chars!r}")
    root = Path(folder) if folder is not None else Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no .py files in {root} (the standard library's source is needed for charlm)")
    parts, total = [], 0
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "".join(parts)[:max_chars]


class CharCorpus:
    """Vocabulary and train/val id tensors of a text."""

    def __init__(self, text: str, val_fraction: float = 0.1) -> None:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a number in (0, 1), got {val_fraction!r}")
        self.text = text
        self.vocab = "".join(sorted(set(text)))
        self.index = {c: i for i, c in enumerate(self.vocab)}
        ids = torch.tensor([self.index[c] for c in text], dtype=torch.long)
        cut = int(len(ids) * (1 - val_fraction))
        self.train_ids, self.val_ids = ids[:cut], ids[cut:]
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    def encode(self, text: str) -> Tensor:
        missing = sorted(set(text) - set(self.index))
        if missing:
            raise ValueError(f"text: characters not in the vocabulary: {missing[:10]!r}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Tensor) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def bigram_bits_per_char(self) -> float:
        """Add-one smoothed bigram model fitted on train, scored on val (bits per character)."""
        v = len(self.vocab)
        counts = torch.ones(v, v, dtype=torch.float64)
        tr = self.train_ids
        counts.index_put_((tr[:-1], tr[1:]), torch.ones(len(tr) - 1, dtype=torch.float64), accumulate=True)
        logp = torch.log2(counts / counts.sum(1, keepdim=True))
        va = self.val_ids
        return float(-logp[va[:-1], va[1:]].mean())

    def unigram_bits_per_char(self) -> float:
        c = Counter(self.train_ids.tolist())
        total = len(self.train_ids) + len(self.vocab)
        va = self.val_ids.tolist()
        return -sum(math.log2((c.get(i, 0) + 1) / total) for i in va) / len(va)


class CharWindows(Dataset):
    """Non-overlapping windows: item k = (ids[k*L : k*L+L], ids[k*L+1 : k*L+L+1])."""

    def __init__(self, ids: Tensor, length: int) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length: expected a positive int, got {length!r}")
        if len(ids) < length + 1:
            raise ValueError(f"ids: need at least {length + 1} ids for windows of {length}, got {len(ids)}")
        self.ids, self.length = ids, length

    def __len__(self) -> int:
        return (len(self.ids) - 1) // self.length

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        s = k * self.length
        return self.ids[s : s + self.length], self.ids[s + 1 : s + self.length + 1]
