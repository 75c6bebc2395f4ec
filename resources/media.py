"""Opens delivered media for PyAV, wherever it lives (local path or ``s3://``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import fsspec

from resources.s3 import S3Connected


class MediaReader(S3Connected):
    """Local media is opened by path (FFmpeg's own I/O); S3 media through a seekable
    fsspec file with a large read-ahead block, so nothing is copied to local disk."""

    block_size_mb: int = 8

    @contextmanager
    def open(self, location: str) -> Iterator[str | IO[bytes]]:
        if not location.startswith("s3://"):
            yield location
            return
        fs = fsspec.filesystem("s3", **self.storage_options())
        with fs.open(location, "rb", block_size=self.block_size_mb * 2**20,
                     cache_type="readahead") as fh:
            yield fh

    def size(self, location: str) -> int | None:
        if not location.startswith("s3://"):
            return None
        return int(fsspec.filesystem("s3", **self.storage_options()).info(location)["size"])
