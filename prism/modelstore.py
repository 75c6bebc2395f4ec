"""Model weights for the production containers: prefetched from the model store, never a hub.

Every ``PRISM_*_MODEL_SOURCE`` setting names a local directory, an ``s3://`` prefix in the
model store, or (only where a hub is reachable) a hub id. At container start the image's
entrypoint, ``python -m prism.modelstore exec -- CMD…``, copies each ``s3://`` source into the
model cache (skipping files already there with the same size), points the setting at the local
copy and then replaces itself with CMD; the model resources then load from local disk. In the
production profile a source that is neither local nor ``s3://`` stops the container before any
run starts, instead of a step reaching for a hub mid-run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from prism.settings import Profile, Settings

SOURCE_SUFFIX = "_model_source"


class ModelStoreError(RuntimeError):
    """A model source cannot be served from the image or the model store."""


@dataclass(frozen=True)
class Prefetched:
    setting: str  # e.g. "asr_model_source"
    source: str  # the s3:// prefix
    local_dir: Path
    files: int
    downloaded: int

    @property
    def env_var(self) -> str:
        return f"PRISM_{self.setting.upper()}"


def model_source_settings() -> list[str]:
    return [name for name in Settings.model_fields if name.endswith(SOURCE_SUFFIX)]


def cache_dir_of(settings: Settings) -> Path:
    return settings.models_dir


def _s3(settings: Settings) -> Any:
    import s3fs

    return s3fs.S3FileSystem(**s3fs_options(settings))


def local_copy_of(source: str, cache_dir: Path) -> Path:
    """Where an ``s3://`` model source lives in the cache: ``<cache>/<bucket>/<key prefix>``."""
    return cache_dir / source[len("s3://"):].rstrip("/")


def fetch(source: str, cache_dir: Path, fs: Any) -> tuple[Path, int, int]:
    """Copy one ``s3://`` model source into the cache (files already there are kept).

    Used by the container entrypoint (every source, before the command starts) and by a
    model resource that meets an ``s3://`` source not prefetched (local runs, tests).
    Returns (local directory, files, files downloaded).
    """
    local = local_copy_of(source, cache_dir)
    files, downloaded = _copy_prefix(fs, source, local)
    return local, files, downloaded


def _copy_prefix(fs: Any, source: str, dest: Path) -> tuple[int, int]:
    prefix = source[len("s3://"):].rstrip("/")
    found = fs.find(prefix, detail=True)
    files = {key: info for key, info in found.items() if info.get("type", "file") == "file"}
    if not files:
        raise ModelStoreError(f"model source {source} holds no files")
    downloaded = 0
    for key, info in sorted(files.items()):
        relative = PurePosixPath(key).relative_to(prefix)
        if ".." in relative.parts:
            raise ModelStoreError(f"model source {source}: refusing object key {key!r}")
        target = dest.joinpath(*relative.parts)
        if target.is_file() and target.stat().st_size == int(info["size"]):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        fs.get_file(key, str(partial))
        partial.replace(target)  # atomic: a killed prefetch never leaves a half file in place
        downloaded += 1
    return len(files), downloaded


BUILTIN_PREFIX = "builtin:"  # a model implemented in Prism itself (no weights), e.g. builtin:color-layout
MANAGED_PREFIX = "bedrock:"  # a managed model service (no weights here), e.g. bedrock:amazon.nova-…


def is_local_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~", "file://"))


def local_source(source: str, *, cache_dir: Path, s3_options: dict[str, Any], setting: str) -> str:
    """What a model loader can open for ``source``: the synced local copy of an ``s3://``
    prefix (the containers prefetch it at start; a local run copies it on first use), an
    existing local directory, or a hub id passed through (for machines that reach a hub).
    ``setting`` names the environment variable in error messages."""
    if source.startswith("s3://"):
        import s3fs

        try:
            local, _, _ = fetch(source, cache_dir, s3fs.S3FileSystem(**s3_options))
        except (ModelStoreError, OSError) as exc:
            raise ModelStoreError(f"model source {source} is empty or unreadable ({setting}): {exc}") from exc
        return str(local)
    if is_local_path(source):
        path = Path(source.removeprefix("file://")).expanduser()
        if not path.is_dir():
            raise ModelStoreError(f"model directory {path} does not exist ({setting})")
        return str(path)
    return source


def s3fs_options(settings: Settings) -> dict[str, Any]:
    """fsspec/s3fs options for the configured S3 endpoint and region."""
    options: dict[str, Any] = {}
    if settings.s3.endpoint_url:
        options["endpoint_url"] = settings.s3.endpoint_url
    if settings.s3.region:
        options["client_kwargs"] = {"region_name": settings.s3.region}
    return options


def prefetch(settings: Settings) -> list[Prefetched]:
    """Copy every ``s3://`` model source into the cache; refuse hub ids in production."""
    fetched: list[Prefetched] = []
    fs = None
    for name in model_source_settings():
        source = getattr(settings, name)
        if not source or source.startswith((BUILTIN_PREFIX, MANAGED_PREFIX)):
            continue
        if source.startswith("s3://"):
            fs = fs or _s3(settings)
            local, files, downloaded = fetch(source, cache_dir_of(settings), fs)
            fetched.append(Prefetched(name, source, local, files, downloaded))
        elif settings.profile is Profile.production and not Path(source).is_dir():
            raise ModelStoreError(
                f"PRISM_{name.upper()}={source!r}: in production a model comes from the image (a local "
                "directory) or the model store (s3://), never from a hub during a run")
    return fetched


def exec_with_models(command: list[str]) -> None:
    """Prefetch, point the settings at the local copies, then become ``command``."""
    if not command:
        raise SystemExit("usage: python -m prism.modelstore exec -- COMMAND [ARGS…]")
    settings = Settings()
    for item in prefetch(settings):
        os.environ[item.env_var] = str(item.local_dir)
        print(f"prism.modelstore: {item.source} -> {item.local_dir} "
              f"({item.files} files, {item.downloaded} downloaded)", file=sys.stderr, flush=True)
    os.execvp(command[0], command)


def main(argv: list[str]) -> None:
    if argv[:1] != ["exec"]:
        raise SystemExit("usage: python -m prism.modelstore exec -- COMMAND [ARGS…]")
    rest = argv[1:]
    exec_with_models(rest[1:] if rest[:1] == ["--"] else rest)


if __name__ == "__main__":
    main(sys.argv[1:])
