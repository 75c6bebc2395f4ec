"""The LanceDB vector tables (shots, transcript segments) under the storage root."""

from __future__ import annotations

from prism.vectors.store import VectorStore
from resources.s3 import S3Connected


class VectorIndex(S3Connected):
    uri: str
    index_min_rows: int = 100_000
    on_model_change: str = "fail"

    def store(self) -> VectorStore:
        return VectorStore.configured(self.uri, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region,
                                      index_min_rows=self.index_min_rows,
                                      on_model_change=self.on_model_change)  # type: ignore[arg-type]
