"""Pieces shared by the generated drivers (numba and Triton): the lines that fire, reset and
start the adjoint of a step, written once for both; the cache folder; loading a generated
module from a file named by the hash of its content (so compiled code can be cached on disk)."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ..dynamics.spec import ModelSpec

NUMBA_H = "one if {x} > 0 else zero"  # H(x) in the data's dtype
TRITON_H = "({x} > 0).to({x0}.dtype)"


def _indent(lines: list[str], n: int) -> str:
    return "\n".join(" " * n + line for line in lines)


def _h(h: str, x: str) -> str:
    return h.format(x=x, x0=x.split(" ")[0])


def fire_lines(spec: ModelSpec, target: str, out: str | None, ix: str, h: str, wta: bool = False) -> list[str]:
    """After the row (u, b, c_<carried>): firing, the same-step reset, the new state in
    ``target``_<field>``ix``, the reset signal rr for the next step, and the output. With
    ``wta`` only the sample's winner (k == kb) spikes; rr is then the crossing H(u - b) (the
    delayed reset sees every crossing) unless the model keeps its spike in a state field."""
    mem, spk = spec.membrane, spec.spike_field
    lines = [f"{target}_{f}{ix} = c_{f}" for f in spec.carried]
    if not spec.spiking:
        return lines + [f"{target}_{mem}{ix} = u"] + ([f"{out}{ix} = u"] if out else [])
    if wta:
        lines += [f"cr = {_h(h, 'u - b')}", "sp = cr if k == kb else zero"]
    else:
        lines += [f"sp = {_h(h, 'u - b')}"]
    lines += [f"{out}{ix} = sp"] if out else []
    if spec.same_step_reset:
        lines += ["vn = u - ss * sp * b", f"{target}_{mem}{ix} = vn * (one - sz * sp)"]
    else:
        lines += [f"{target}_{mem}{ix} = u"]
    return lines + ([f"{target}_{spk}{ix} = sp"] if spk else []) + [f"rr{ix} = {'cr' if wta and not spk else 'sp'}"]


def adjoint_lines(spec: ModelSpec, ix: str, h: str, sg: str, win: str | None = None, lean: bool = False
                  ) -> list[str]:
    """dL/du and dL/db of a step from the adjoints after it (lam_*, gtr_*, gst, lam_r): the
    output, the spike's surrogate ``sg``, the same-step reset (not detached: nd = 1). ``win``:
    the winner-take-all mask of the step (the output spike is H(u - b) win). ``lean``: a
    detached reset and no trace gradients (the training case): those terms are not generated."""
    mem, spk = spec.membrane, spec.spike_field
    if not spec.spiking:
        return [f"du = lam_{mem}{ix} + gtr_{mem}{ix} + gst{ix}", "db = du - du"]
    gsp = f"gst{ix} + lam_r{ix}" + (f" + lam_{spk}{ix} + gtr_{spk}{ix}" if spk else "")
    if win is None:
        spike, grad = [f"cr = {_h(h, 'sh')}", "sp = cr"], f"g = gsp * {sg}"
    else:  # through the masked spike: gm; the reset signal: lam_r (masked too when kept as the spike field)
        gm = f"gst{ix}" + (f" + lam_{spk}{ix} + gtr_{spk}{ix}" if spk else "")
        gsp = f"{gm} + lam_r{ix}" if spk else gm
        spike = [f"cr = {_h(h, 'sh')}", f"sp = cr * {win}"]
        grad = f"g = gsp * {win} * {sg}" if spk else f"g = (gsp * {win} + lam_r{ix}) * {sg}"
    lines = [
        f"gv = lam_{mem}{ix} + gtr_{mem}{ix}",
        "sh = u - b",
        *spike,
        f"gsp = {gsp} - nd * (ss * (gv * b) + sz * (gv * u))",
        grad,
        "du = gv - sz * (gv * sp) + g",
        "db = -(ss * (gv * sp)) - g",
    ]
    if lean:
        lines = [x.replace(f" + gtr_{mem}{ix}", "").replace(f" + gtr_{spk}{ix}", "").replace(f" + lam_r{ix}", "")
                 .replace(" - nd * (ss * (gv * b) + sz * (gv * u))", "") for x in lines]
    return lines


def cache_dir() -> Path | None:
    """Where generated drivers (and their compiled code) live: $SPIKEFLOW_CACHE_DIR or
    ~/.cache/spikeflow/kernels (else a per-user temp folder); None when none can be written."""
    for root in (os.environ.get("SPIKEFLOW_CACHE_DIR"), os.path.join(Path.home(), ".cache", "spikeflow", "kernels"),
                 os.path.join(tempfile.gettempdir(), f"spikeflow-kernels-{os.getuid()}")):
        if not root:
            continue
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            if os.access(root, os.W_OK):
                return Path(root)
        except OSError:
            continue
    return None


def load_module(root: Path, stem: str, text: str) -> ModuleType:
    """Write ``text`` to root/stem.py (once; stem carries the content hash) and import it."""
    path = root / f"{stem}.py"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    name = f"spikeflow_generated_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.util.spec_from_file_location(name, path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    loader.loader.exec_module(module)
    return module
