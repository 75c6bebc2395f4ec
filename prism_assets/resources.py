"""Resources per environment, chosen by configuration (prism.settings) alone.

The local profile and production differ only in where things live (local
paths vs ``s3://``, SQLite vs Postgres via DAGSTER_HOME) and, later, in which
model backends and devices are used; the asset code is the same.
"""

from __future__ import annotations

from prism.settings import Settings
from resources import (
    ArtifactStorage,
    AsrModel,
    AudioQcPolicy,
    BundleExport,
    DeliveryInbox,
    DiarizationModel,
    MediaReader,
    OnscreenTextModel,
    QcPolicy,
    TextEmbeddingModel,
    VadModel,
    VectorIndex,
    VisualAnalysis,
    VisualEmbeddingModel,
)


def build_resources(settings: Settings) -> dict[str, object]:
    threads = settings.threads.per_step  # each running step's share of the cores (prism.threads)
    s3 = {"s3_endpoint_url": settings.s3.endpoint_url, "s3_region": settings.s3.region}
    bedrock = {"bedrock_dimension": settings.bedrock_embedding_dimension,
               "bedrock_max_concurrency": settings.bedrock_max_concurrency,
               "bedrock_max_attempts": settings.bedrock_max_attempts, "bedrock_region": settings.bedrock_region,
               "bedrock_endpoint_url": settings.bedrock_endpoint_url,
               "embedding_cache_uri": settings.embedding_cache}
    return {
        "storage": ArtifactStorage(root=settings.artifacts_uri, **s3),
        "inbox": DeliveryInbox(
            uri=settings.inbox,
            media_roots=settings.media_roots,
            max_manifest_bytes=settings.manifest_max_bytes,
            lookback_hours=settings.sensor_lookback_hours,
            **s3,
        ),
        "media": MediaReader(**s3),
        "export": BundleExport(uri=settings.export, role_arn=settings.export_role_arn, **s3),
        "visual": VisualAnalysis(
            shot_detector=settings.shot_detector,
            device=settings.model_device,
            thumbnail_interval_s=settings.thumbnail_interval_s,
            keyframe_every_s=settings.keyframe_every_s,
            skip_loop_filter=settings.visual_skip_loop_filter,
            decoder=settings.visual_decoder,
            segments=settings.visual_segments,
            text_sample_interval_s=settings.ocr_interval_s,
        ),
        "onscreen_text_model": OnscreenTextModel(
            interval_s=settings.ocr_interval_s, detector_side=settings.ocr_detector_side,
            languages=settings.ocr_languages, min_confidence=settings.ocr_min_confidence, threads=threads,
        ),
        "asr": AsrModel(
            backend=settings.asr_backend, source=settings.asr_model_source, device=settings.asr_device,
            compute_type=settings.asr_compute_type, beam_size=settings.asr_beam_size,
            batch_size=settings.asr_batch_size, pack_speech=settings.asr_pack_speech,
            language_policy=settings.asr_language, cpu_threads=threads,
            cache_dir=str(settings.models_dir), **s3,
        ),
        "visual_embedding": VisualEmbeddingModel(
            source=settings.visual_model_source, device=settings.model_device,
            batch_size=settings.embed_batch_size, threads=threads, cache_dir=str(settings.models_dir),
            **bedrock, **s3,
        ),
        "text_embedding": TextEmbeddingModel(
            source=settings.text_model_source, device=settings.model_device,
            batch_size=settings.embed_batch_size, threads=threads, cache_dir=str(settings.models_dir),
            **bedrock, **s3,
        ),
        "vector_index": VectorIndex(
            uri=settings.lancedb_uri, index_min_rows=settings.vector_index_min_rows,
            on_model_change=settings.vectors_on_model_change, **s3,
        ),
        "vad": VadModel(threshold=settings.vad_threshold),
        "diarization": DiarizationModel(
            backend=settings.diarization_backend, source=settings.diarization_model_source,
            device=settings.model_device, chunk_s=settings.diarization_chunk_s,
            link_threshold=settings.voice_link_threshold, threads=threads, cache_dir=str(settings.models_dir),
            **s3,
        ),
        "qc_policy": QcPolicy(profile=settings.qc_profile, burned_in_share=settings.qc_burned_in_share),
        "audio_qc_policy": AudioQcPolicy(
            loudness_spec=settings.loudness_spec, silence_min_s=settings.silence_min_s,
            silence_threshold_lufs=settings.silence_threshold_lufs,
        ),
    }
