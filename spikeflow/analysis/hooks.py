"""The lifecycle shared by every hook-based analysis tool: hooks added on ``with``, all removed
on exit (also after an error while adding them), one activation at a time."""

from __future__ import annotations

from typing import Any, TypeVar

_H = TypeVar("_H", bound="HookSet")


class HookSet:
    """Subclasses add their hooks in ``_attach`` and append each handle to ``self._handles``."""

    def __init__(self) -> None:
        self._handles: list[Any] = []

    def _attach(self) -> None:
        raise NotImplementedError

    def __enter__(self: _H) -> _H:
        if self._handles:
            raise RuntimeError(f"{type(self).__name__}: already active (it can be entered once at a time)")
        try:
            self._attach()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this object added (``__exit__`` calls it)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
