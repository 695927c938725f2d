"""Time-distributed wrappers and containers."""

from .sequential import Sequential, TimeDistributed, is_stateful, time_distributed

__all__ = ["Sequential", "TimeDistributed", "is_stateful", "time_distributed"]
