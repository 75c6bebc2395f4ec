"""The LanceDB vector tables (shots, transcript segments) under the storage root."""

from __future__ import annotations

from prism.vectors.index import IndexPolicy
from prism.vectors.store import VectorStore, lance_storage_options
from resources.s3 import S3Connected


class VectorIndex(S3Connected):
    uri: str
    index_min_rows: int = 100_000
    on_model_change: str = "fail"

    def store(self) -> VectorStore:
        options = lance_storage_options(self.uri, endpoint_url=self.s3_endpoint_url, region=self.s3_region)
        return VectorStore(self.uri, storage_options=options,
                           index_policy=IndexPolicy(min_rows=self.index_min_rows),
                           on_model_change=self.on_model_change)  # type: ignore[arg-type]
