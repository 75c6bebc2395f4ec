"""Small helpers shared by tests (imported as a plain module; conftest puts tests/ on sys.path)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

from prism.intake.inbox import Delivery, Inbox
from prism.settings import Settings
from prism_assets.resources import build_resources


def inbox_of(settings: Settings) -> Inbox:
    return build_resources(settings)["inbox"].inbox()


def deliver(settings: Settings, video: Path, title_id: str,
            delivered_at: str = "2026-11-23T10:00:00Z", **fields) -> Delivery:
    return inbox_of(settings).deliver(
        video, {"title_id": title_id, "delivered_at": delivered_at, **fields})


def drop_raw_manifest(settings: Settings, relpath: str, data: bytes) -> Path:
    """Write manifest bytes into the inbox as an upstream system might (valid or not)."""
    path = Path(inbox_of(settings).uri) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def peak_traced_bytes(fn: Callable[[], object]) -> int:
    """The peak of Python-traced allocations while ``fn`` runs (memory-flatness tests)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
