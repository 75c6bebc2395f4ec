"""Catalogue search as one function call, configured like everything else (``PRISM_*``).

    from prism.catalogue import search
    results = search("the truck at the harbour", k=5)            # shots + dialogue
    results = search(like="ep-101:12", title_id="ep-102")         # shots that look like ep-101 shot 12

The CLI (``prism search``) and a backend call this; it needs no Dagster. Models are loaded on
first use and kept by the returned :class:`Searcher` (``open_searcher``) for later queries.
"""

from __future__ import annotations

from functools import partial

from prism.embeddings.bedrock import BedrockOptions
from prism.embeddings.loading import load_image_embedder, load_text_embedder
from prism.modelstore import s3fs_options
from prism.settings import Settings, get_settings
from prism.vectors.search import Scope, Searcher, SearchResults
from prism.vectors.store import VectorStore


def bedrock_options(settings: Settings) -> BedrockOptions:
    """Bedrock as the query side uses it: no vector cache (a query is embedded once, and search must
    not need write access to the artifact storage)."""
    return BedrockOptions(dimension=settings.bedrock_embedding_dimension,
                          max_concurrency=settings.bedrock_max_concurrency,
                          max_attempts=settings.bedrock_max_attempts, region=settings.bedrock_region,
                          endpoint_url=settings.bedrock_endpoint_url)


def _model(settings: Settings, source: str | None, loader):
    return loader(source, device=settings.model_device, batch_size=settings.embed_batch_size,
                  cache_dir=settings.models_dir, s3_options=s3fs_options(settings),
                  bedrock=bedrock_options(settings))


def open_vector_store(settings: Settings | None = None) -> VectorStore:
    settings = settings or get_settings()
    return VectorStore.configured(settings.lancedb_uri, s3_endpoint_url=settings.s3.endpoint_url,
                                  s3_region=settings.s3.region, index_min_rows=settings.vector_index_min_rows,
                                  on_model_change=settings.vectors_on_model_change)


def open_searcher(settings: Settings | None = None) -> Searcher:
    """A Searcher over the configured LanceDB tables with the configured embedders (lazy)."""
    settings = settings or get_settings()
    return Searcher(
        open_vector_store(settings),
        image_embedder=partial(_model, settings, settings.visual_model_source, load_image_embedder),
        text_embedder=partial(_model, settings, settings.text_model_source, load_text_embedder),
    )


def search(query: str | None = None, *, like: str | None = None, k: int = 10, title_id: str | None = None,
           scope: Scope = "all", settings: Settings | None = None) -> SearchResults:
    """One search (see :meth:`Searcher.search`); for many, keep an ``open_searcher()``."""
    return open_searcher(settings).search(query, like=like, k=k, title_id=title_id, scope=scope)
