"""NIR (Neuromorphic Intermediate Representation) export and import. Semantics: docs/nir.md."""

from .api import from_nir, load_nir, save_nir
from .export import to_nir
from .network import NIRNetwork
from .options import ImportOptions

__all__ = ["ImportOptions", "NIRNetwork", "from_nir", "load_nir", "save_nir", "to_nir"]
