"""The delivery inbox: a local folder or an S3 prefix where manifests (and media) land.

Layout: manifests live under a prefix named for their UTC delivery day,
``<inbox>/<YYYY-MM-DD>/.../*.json``; Prism's own ``deliver`` (like the upstream
platform) writes ``<YYYY-MM-DD>/<title_id>/media/<file>`` and then, last,
``<YYYY-MM-DD>/<title_id>.json``. The day prefixes are what keeps intake cheap: the
sensor lists only the days inside its look-back window, the daily batch only the
previous day, and ``latest_for_title`` walks back day by day, so none of them grows
with the inbox's history. ``*.json`` files outside a day prefix are found only by a
full listing (``list_manifests()`` without days).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from prism.intake.manifest import (
    DeliveryManifest,
    ManifestError,
    manifest_digest,
    parse_manifest,
    resolve_media_uri,
)
from prism.storage import atomic_write, open_root, with_retries


@dataclass(frozen=True)
class InboxEntry:
    key: str  # path relative to the inbox root, POSIX separators
    modified: float  # epoch seconds
    size: int


@dataclass(frozen=True)
class Delivery:
    """A validated manifest with everything the pipeline needs to find its media."""

    key: str
    manifest: DeliveryManifest
    digest: str  # sha256 of the manifest bytes: identifies this delivery
    media_location: str  # absolute local path or s3:// URI, checked against allowed roots

    @property
    def title_id(self) -> str:
        return self.manifest.title_id

    def run_key(self) -> str:
        return f"{self.title_id}:{self.digest[:16]}"

    def as_record(self) -> dict[str, Any]:
        return {
            "title_id": self.title_id,
            "manifest_key": self.key,
            "manifest_sha256": self.digest,
            "media_location": self.media_location,
            "manifest": self.manifest.model_dump(mode="json"),
        }


def _modified(info: dict[str, Any]) -> float:
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


class Inbox:
    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None,
                 *, extra_media_roots: list[str] = (), max_manifest_bytes: int = 65536):
        self.root, self.is_local = open_root(uri, storage_options)
        self.uri = str(self.root.path) if self.is_local else str(self.root).rstrip("/")
        # Media may live next to its manifest in the inbox, or under a configured root.
        self.allowed_media_roots = [self.uri, *extra_media_roots]
        self.max_manifest_bytes = max_manifest_bytes

    def location(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"

    def list_days(self) -> list[date]:
        """The day prefixes (``YYYY-MM-DD``) at the inbox root, oldest first: one listing call."""
        if not with_retries(self.root.exists, what=self.uri):
            return []
        self.root.fs.invalidate_cache()
        names = with_retries(lambda: self.root.fs.ls(self.root.path, detail=False), what=self.uri)
        days = set()
        for name in names:
            try:
                days.add(date.fromisoformat(str(name).rstrip("/").rsplit("/", 1)[-1]))
            except ValueError:
                continue  # not a day prefix
        return sorted(days)

    def list_manifests(self, modified_after: float | None = None,
                       days: Iterable[date] | None = None) -> list[InboxEntry]:
        """Manifest files, oldest first (then by key), optionally only newer than a time.

        With ``days``, only those day prefixes are listed (one call each); without, the
        whole inbox is (for tools and tests, never for the sensor's or the batch's ticks).
        """
        if days is None:
            prefixes = [""]
        else:
            prefixes = [f"{day.isoformat()}/" for day in sorted(set(days))]
        entries = []
        for prefix in prefixes:
            entries.extend(self._find_manifests(prefix, modified_after))
        return sorted(entries, key=lambda e: (e.modified, e.key))

    def _find_manifests(self, prefix: str, modified_after: float | None) -> list[InboxEntry]:
        base = str(self.root.path).rstrip("/")
        where = self.root / prefix if prefix else self.root
        if not prefix and not with_retries(self.root.exists, what=self.uri):
            return []
        where.fs.invalidate_cache()
        try:
            found = with_retries(lambda: where.fs.find(where.path, detail=True), what=self.location(prefix))
        except FileNotFoundError:
            return []
        entries = []
        for path, info in found.items():
            key = str(path)[len(base) + 1:]
            name = key.rsplit("/", 1)[-1]
            if not name.endswith(".json") or name.startswith("."):
                continue
            entry = InboxEntry(key=key, modified=_modified(info), size=int(info.get("size") or 0))
            if modified_after is None or entry.modified > modified_after:
                entries.append(entry)
        return entries

    def read(self, entry: InboxEntry) -> bytes:
        if entry.size > self.max_manifest_bytes:
            raise ManifestError(
                f"manifest is {entry.size} bytes, over the {self.max_manifest_bytes}-byte limit"
            )
        path = self.root / entry.key

        def _read() -> bytes:
            with path.open("rb") as fh:
                return fh.read(self.max_manifest_bytes + 1)

        return with_retries(_read, what=self.location(entry.key))

    def load(self, entry: InboxEntry) -> Delivery:
        """Read, validate and resolve one manifest; raises ManifestError with the reason."""
        data = self.read(entry)
        manifest = parse_manifest(data, max_bytes=self.max_manifest_bytes)
        media = resolve_media_uri(manifest.media_uri, self.location(entry.key),
                                  self.allowed_media_roots)
        return Delivery(key=entry.key, manifest=manifest, digest=manifest_digest(data),
                        media_location=media)

    def load_key(self, key: str) -> Delivery:
        path = self.root / key
        info = with_retries(lambda: path.fs.info(path.path), what=self.location(key))
        return self.load(InboxEntry(key=key, modified=_modified(info), size=int(info["size"])))

    def latest_for_title(self, title_id: str) -> Delivery | None:
        """The newest valid delivery of a title (for runs started without a sensor tag).

        Walks the day prefixes newest first and reads only ``<day>/<title_id>.json``, so
        its cost is the distance back to the title's last delivery, not the inbox's
        history. A manifest under another name is reached with its key instead.
        """
        for day in reversed(self.list_days()):
            try:
                delivery = self.load_key(f"{day.isoformat()}/{title_id}.json")
            except (FileNotFoundError, ManifestError):
                continue
            if delivery.title_id == title_id:
                return delivery
        return None

    def deliver(self, video: Path, manifest_fields: dict[str, Any], *, link: bool = True) -> Delivery:
        """Drop media and manifest as the upstream platform would: media first, manifest last."""
        draft = DeliveryManifest.model_validate({**manifest_fields, "media_uri": "x"})
        day = draft.delivery_date.isoformat()
        title_id = draft.title_id
        media_key = f"{day}/{title_id}/media/{video.name}"
        manifest_key = f"{day}/{title_id}.json"
        media_path = self.root / media_key
        if self.is_local:
            dest = Path(str(media_path.path))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.unlink(missing_ok=True)
            try:
                if not link:
                    raise OSError("copy requested")
                dest.hardlink_to(video)
            except OSError:
                shutil.copyfile(video, dest)
        else:
            with_retries(lambda: media_path.fs.put_file(str(video), media_path.path),
                         what=self.location(media_key))
        manifest = DeliveryManifest.model_validate(
            {**manifest_fields, "media_uri": f"{title_id}/media/{video.name}"}
        )
        data = (manifest.model_dump_json(indent=2, exclude_none=True) + "\n").encode()
        atomic_write(self.root / manifest_key, data, local=self.is_local)
        return self.load_key(manifest_key)
