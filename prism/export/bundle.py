"""Publish a title's bundle: derived artifacts only, checksummed, manifest written last.

Media never leaves the media account: the bundle is built from an allow-list of
derived artifacts (tables, JSON, subtitles, images, the report), and anything
that looks like audio or video is refused outright — intermediates such as the
16 kHz speech audio or the low-resolution frame proxies stay behind. Consumers
read ``bundle.json`` first: every file it lists is already in place (files are
written before the manifest) and carries its size and SHA-256. Re-publishing a
title replaces its bundle exactly: files from an older bundle that are not in
the new one are removed after the new manifest is in place.
"""

from __future__ import annotations

import fnmatch
import hashlib
import mimetypes
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from prism.ids import validate_title_id
from prism.storage import ArtifactStore, atomic_write, list_relative, open_root, safe_relpath, with_retries

# The artifact contract's version (docs/schema.md). Bump when a listed column/field changes meaning.
SCHEMA_VERSION = 2  # 2: black stretches are shots of their own (shots.parquet `black`, cuts at their frames)
BUNDLE_MANIFEST = "bundle.json"

# Derived artifacts a consumer may read (artifact contract v1).
EXPORTABLE = (
    "probe.json",
    "shots.parquet",
    "keyframes.parquet",
    "keyframes/*.jpg",
    "keyframes/*.webp",
    "contact_sheet.jpg",
    "thumbnails/*.jpg",
    "thumbnails.vtt",
    "speech.parquet",
    "loudness.json",
    "transcript.parquet",
    "transcript.json",
    "transcript.*.vtt",
    "transcript.*.srt",
    "speakers.parquet",
    "speakers.json",
    "keyframe_embeddings.parquet",
    "transcript_embeddings.parquet",
    "onscreen_text.parquet",
    "onscreen_text_embeddings.parquet",
    "subtitles.*.vtt",
    "subtitles.*.srt",
    "subtitles.*.ttml",
    "subtitle_events.parquet",
    "subtitle_conformance.parquet",
    "subtitle_template.json",
    "dialogue_list.csv",
    "dialogue_list.xlsx",
    "dialogue_list.json",
    "qc.parquet",
    "qc_summary.json",
    "qc_timeline.png",
    "report.html",
)
# Never exported, even if a pattern above were widened by mistake: audio/video bytes and raw frames.
NEVER = (
    "*.mp4", "*.mov", "*.mkv", "*.m4a", "*.mxf", "*.ts", "*.webm", "*.wav", "*.flac", "*.aac", "*.mp3",
    "*.opus", "*.ogg", "*.npy", "*.npz", "*.raw", "*.yuv", "audio/*", "frames/*",
    "speaker_voices.parquet",  # voice embeddings (biometric-like): kept in the media account
)


class ExportRefused(ValueError):
    """A file may not leave the media account."""


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def select_exportable(paths: list[str]) -> list[str]:
    """The subset of a title's artifact paths that belongs in its bundle (sorted)."""
    chosen = []
    for path in paths:
        if _matches(path, NEVER):
            continue
        if _matches(path, EXPORTABLE):
            chosen.append(path)
    return sorted(chosen)


class BundleFile(BaseModel):
    path: str
    bytes: int
    sha256: str
    media_type: str


class BundleManifest(BaseModel):
    """bundle.json: what a consumer reads first."""

    schema_version: int = SCHEMA_VERSION
    title_id: str
    published_at: datetime
    manifest_sha256: str | None = Field(default=None, description="the delivery this bundle derives from")
    title: dict[str, Any] = Field(default_factory=dict, description="delivery metadata (no storage paths)")
    qc: dict[str, Any] = Field(default_factory=dict, description="qc_summary.json's status and profile")
    files: list[BundleFile]


class ExportTarget:
    """Where bundles go: ``<uri>/<title_id>/…`` (a local folder, or an export bucket on S3)."""

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None):
        self.uri = uri
        self.root, self.is_local = open_root(uri, storage_options)

    def dir(self, title_id: str):
        return self.root / validate_title_id(title_id)

    def write(self, title_id: str, relpath: str, data: bytes) -> None:
        atomic_write(self.dir(title_id) / safe_relpath(relpath), data, local=self.is_local)

    def list(self, title_id: str) -> list[str]:
        return list_relative(self.dir(title_id))

    def remove(self, title_id: str, relpath: str) -> None:
        target = self.dir(title_id) / safe_relpath(relpath)
        with_retries(lambda: target.fs.rm(target.path), what=str(target))

    def read_manifest(self, title_id: str) -> BundleManifest:
        target = self.dir(title_id) / BUNDLE_MANIFEST
        return BundleManifest.model_validate_json(with_retries(target.read_bytes, what=str(target)))


def _media_type(path: str) -> str:
    if path.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    if path.endswith(".vtt"):
        return "text/vtt"
    if path.endswith(".srt"):
        return "application/x-subrip"
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def publish_bundle(
    store: ArtifactStore,
    title_id: str,
    target: ExportTarget,
    *,
    on_file: Callable[[str], None] | None = None,
) -> BundleManifest:
    """Copy the title's exportable artifacts to the target, then write bundle.json, then prune."""
    available = store.list_files(title_id)
    chosen = select_exportable(available)
    for path in chosen:
        if _matches(path, NEVER):  # defence in depth: the allow-list above must never admit media
            raise ExportRefused(f"title {title_id}: {path} may not leave the media account")
    if "qc_summary.json" not in chosen:
        raise ExportRefused(f"title {title_id}: no qc_summary.json; a title is published only after QC")

    files = []
    for path in chosen:
        data = store.read_bytes(title_id, path)
        target.write(title_id, path, data)
        files.append(BundleFile(path=path, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                media_type=_media_type(path)))
        if on_file:
            on_file(path)

    delivery = store.read_json(title_id, "delivery.json") if "delivery.json" in available else {}
    qc = store.read_json(title_id, "qc_summary.json")
    title_meta = {k: v for k, v in (delivery.get("manifest") or {}).items()
                  if k not in {"media_uri", "schema_version"}}  # storage paths stay in the media account
    manifest = BundleManifest(
        title_id=title_id,
        published_at=datetime.now(UTC),
        manifest_sha256=delivery.get("manifest_sha256"),
        title=title_meta,
        qc={"status": qc.get("status"), "profile": qc.get("profile"), "counts": qc.get("counts")},
        files=files,
    )
    target.write(title_id, BUNDLE_MANIFEST, manifest.model_dump_json(indent=2).encode() + b"\n")

    keep = {f.path for f in files} | {BUNDLE_MANIFEST}
    for stale in target.list(title_id):
        if stale not in keep:
            target.remove(title_id, stale)
    return manifest
