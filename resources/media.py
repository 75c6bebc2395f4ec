"""Opens delivered media for PyAV, wherever it lives (local path or ``s3://``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import fsspec

from resources.s3 import S3Connected


@dataclass(frozen=True)
class MediaOpener:
    """Opens one media location (a plain, picklable value: the visual pass's segment processes
    each open the media with it)."""

    location: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    block_size: int = 8 * 2**20

    @contextmanager
    def __call__(self) -> Iterator[str | IO[bytes]]:
        if not self.location.startswith("s3://"):
            yield self.location
            return
        fs = fsspec.filesystem("s3", **self.storage_options)
        with fs.open(self.location, "rb", block_size=self.block_size, cache_type="readahead") as fh:
            yield fh


class MediaReader(S3Connected):
    """Local media is opened by path (FFmpeg's own I/O); S3 media through a seekable
    fsspec file with a large read-ahead block, so nothing is copied to local disk."""

    block_size_mb: int = 8

    def opener(self, location: str) -> MediaOpener:
        return MediaOpener(location, self.storage_options() if location.startswith("s3://") else {},
                           self.block_size_mb * 2**20)

    @contextmanager
    def open(self, location: str) -> Iterator[str | IO[bytes]]:
        with self.opener(location)() as source:
            yield source

    def size(self, location: str) -> int | None:
        if not location.startswith("s3://"):
            return None
        return int(fsspec.filesystem("s3", **self.storage_options()).info(location)["size"])
