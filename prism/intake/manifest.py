"""The delivery manifest: what the upstream media platform drops next to a title.

Manifests are untrusted input. They are size-limited before parsing, strictly
validated (unknown fields are refused so a typo such as ``media_url`` is an
error, not a silently ignored field), and their media URI must use an allowed
scheme and stay under an allowed root, with no ``..`` anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from prism.ids import TitleId

ALLOWED_MEDIA_SCHEMES = ("file", "s3")
MANIFEST_SCHEMA_VERSION = 1

LanguageTag = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$", max_length=35)
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ManifestError(ValueError):
    """A delivery manifest that cannot be accepted; the message says exactly why."""


class DeliveryManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    title_id: TitleId
    media_uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    delivered_at: datetime
    title_name: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    series: ShortText | None = None
    season: Annotated[int, Field(ge=0, le=1000)] | None = None
    episode: Annotated[int, Field(ge=0, le=100_000)] | None = None
    provider: ShortText | None = None
    audio_languages: Annotated[list[LanguageTag], Field(max_length=32)] = []
    checksum_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None

    @field_validator("delivered_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Upstream sometimes omits the offset; Prism treats naive times as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("media_uri")
    @classmethod
    def _media_uri(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("media_uri contains control characters")
        scheme = urlsplit(value).scheme.lower()
        if scheme and scheme not in ALLOWED_MEDIA_SCHEMES and not _is_windows_drive(value):
            raise ValueError(
                f"media_uri scheme {scheme!r} is not allowed (allowed: "
                f"{', '.join(ALLOWED_MEDIA_SCHEMES)} or a path relative to the manifest)"
            )
        path = unquote(urlsplit(value).path) if scheme else value
        if ".." in path.replace("\\", "/").split("/"):
            raise ValueError("media_uri must not contain '..' path components")
        return value

    @property
    def delivery_date(self) -> date:
        return self.delivered_at.date()


def _is_windows_drive(value: str) -> bool:
    return bool(re.match(r"^[A-Za-z]:[\\/]", value))


def parse_manifest(data: bytes, *, max_bytes: int) -> DeliveryManifest:
    """Parse and validate manifest bytes, raising :class:`ManifestError` with a specific reason."""
    if len(data) > max_bytes:
        raise ManifestError(f"manifest is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data.strip():
        raise ManifestError("manifest is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise ManifestError("manifest JSON is nested too deeply") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest must be a JSON object, got {type(raw).__name__}")
    try:
        return DeliveryManifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "manifest"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    more = exc.error_count() - len(parts)
    return "invalid manifest: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def manifest_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve_media_uri(media_uri: str, manifest_location: str, allowed_roots: list[str]) -> str:
    """The absolute location of a manifest's media, refused unless under an allowed root.

    Relative URIs are resolved against the manifest's own folder (the upstream
    drops media and manifest together). Local paths are compared after
    resolving symlinks, so a link cannot lead out of the allowed roots.
    """
    parts = urlsplit(media_uri)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        resolved = f"s3://{parts.netloc}{posixpath.normpath(unquote(parts.path) or '/')}"
    elif scheme == "file":
        resolved = os.path.realpath(unquote(parts.path))
    else:
        base_scheme = urlsplit(manifest_location).scheme.lower()
        if base_scheme == "s3":
            base = manifest_location.rsplit("/", 1)[0]
            resolved = posixpath.normpath(f"{base}/{media_uri}").replace("s3:/", "s3://", 1)
        else:
            base_dir = os.path.dirname(os.path.realpath(manifest_location))
            resolved = os.path.realpath(os.path.join(base_dir, media_uri))
    for root in allowed_roots:
        if _is_under(resolved, root):
            return resolved
    raise ManifestError(
        f"media {media_uri!r} resolves to {resolved!r}, outside the allowed media roots"
    )


def _is_under(location: str, root: str) -> bool:
    if urlsplit(root).scheme.lower() == "s3":
        root_norm = root.rstrip("/") + "/"
        return location.startswith(root_norm)
    if urlsplit(location).scheme:
        return False
    root_real = os.path.realpath(root)
    return os.path.commonpath([location, root_real]) == root_real
