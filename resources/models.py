"""The one model registry: every model a resource hands out is loaded here, once per process.

A model is loaded on first use (never at import) and kept for the life of the process under a
key that names everything its weights depend on, so a run that materializes several titles,
tracks or steps loads it once. Each key has its own lock: two steps that run at the same time
(``prism run`` overlaps the visual and audio branches) load *different* models in parallel,
while two that want the *same* model wait for the one load. A failed load is not cached, so a
fixed setting works on the next attempt without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ModelRegistry:
    def __init__(self) -> None:
        self._models: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model under ``key``, loading it with ``load()`` the first time."""
        try:
            return self._models[key]
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                self._models[key] = load()
            return self._models[key]

    def peek(self, key: Hashable) -> Any | None:
        """The model under ``key`` if this process has loaded it, else None (never loads)."""
        return self._models.get(key)

    def loaded(self) -> list[Hashable]:
        """The keys of the models this process holds (for tests and run metadata)."""
        return list(self._models)

    def clear(self) -> None:
        """Forget every model (tests that change a model's files under the same key)."""
        with self._guard:
            self._models.clear()
            self._locks.clear()


MODELS = ModelRegistry()
