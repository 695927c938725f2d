"""Compatibility layers that run other libraries' code on spikeflow's core.

``import spikeflow.compat.snntorch as snn`` runs snnTorch 1.0 code unchanged (see
docs/migrating-from-snntorch.md).
"""
