"""Artifact storage over UPath/fsspec: the same code for local disk and ``s3://``.

Layout (artifact contract v1, see docs/schema.md)::

    <root>/titles/<title_id>/<artifact>
    <root>/export/<title_id>/...

Writes are atomic: a reader sees the old object or the new one, never a torn
one. Locally that is temp file + ``os.replace`` in the same directory; on S3 a
single PUT (or a completed multipart upload) is atomic by itself. Transient
storage errors are retried with exponential backoff.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from prism.ids import validate_title_id
from prism.liveness import TOKEN_RE, is_dead, process_token

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCAL_PROTOCOLS = {"", "file", "local"}
# Errors that mean "try again" rather than "this will never work".
_NOT_TRANSIENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
                  FileExistsError, ValueError)
# ("internal error, please try again" is S3's InternalError as s3fs words it: a server that has
# just restarted answers it until its volumes are back.)
_TRANSIENT_HINTS = ("slowdown", "slow down", "throttl", "503", "500", "internalerror", "internal error",
                    "try again", "serviceunavailable", "service unavailable", "timed out", "timeout",
                    "connection", "reset by peer")


# A local temp file is named after its writer (".<name>.tmp-<process token>-<random><suffix>"), so
# the temp files of a writer that was killed can be told from those of one still writing.
_TEMP_RE = re.compile(r"\.(?P<name>.+)\.tmp-(?P<token>" + TOKEN_RE.pattern + r")-[0-9a-f]+")


def temp_sibling(dest: Path, suffix: str = "") -> Path:
    """Where a writer of this process stages ``dest`` before the atomic rename."""
    return dest.with_name(f".{dest.name}.tmp-{process_token()}-{uuid.uuid4().hex[:12]}{suffix}")


class StorageError(RuntimeError):
    """A storage operation failed after retries, or was refused (bad relative path)."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _NOT_TRANSIENT) or isinstance(exc, StorageUnavailable):  # retried already
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    name = type(exc).__name__.lower()
    text = f"{name} {exc}".lower()
    return any(hint in text for hint in _TRANSIENT_HINTS)


# Transient errors are retried for about 7.5 s in all (0.5 + 1 + 2 + 4): an S3 endpoint that
# restarts or fails over within a few seconds costs a pause, not the title.
RETRY_ATTEMPTS = 5
RETRY_BASE_DELAY_S = 0.5


class StorageUnavailable(OSError):
    """Storage stayed unreachable (or kept failing transiently) through every retry."""


def with_retries(fn: Callable[[], T], *, what: str, attempts: int | None = None,
                 base_delay: float | None = None) -> T:
    """Call ``fn``; retry transient storage errors with exponential backoff. When they outlast
    the retries, raise ``StorageUnavailable`` naming ``what`` (the object's path: its title)."""
    attempts = RETRY_ATTEMPTS if attempts is None else attempts
    base_delay = RETRY_BASE_DELAY_S if base_delay is None else base_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not _is_transient(exc):
                raise
            if attempt == attempts:
                raise StorageUnavailable(
                    f"storage unavailable for {what} after {attempts} attempts over "
                    f"{base_delay * (2 ** (attempts - 1) - 1):.1f}s: {type(exc).__name__}: {exc}") from exc
            delay = base_delay * 2 ** (attempt - 1)
            log.warning("transient storage error on %s (attempt %d/%d): %s; retrying in %.1fs",
                        what, attempt, attempts, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def open_root(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[UPath, bool]:
    """A UPath for a local directory or an ``s3://`` prefix, and whether it is local."""
    root = UPath(uri, **(storage_options or {}))
    if root.protocol in LOCAL_PROTOCOLS:
        return UPath(Path(str(root.path)).expanduser().resolve()), True
    return root, False


class StorageFull(OSError):
    """The local artifact disk (or the writer's file-size limit) has no room for an artifact."""


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_FULL_TEXTS = ("no space left", "disk quota", "file too large")


@contextmanager
def _disk_full_named(dest: Path) -> Iterator[None]:
    """Turn a full disk into an error naming the artifact (and so its title)."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, StorageFull) or not (
                exc.errno in _FULL_ERRNOS or any(t in str(exc).lower() for t in _FULL_TEXTS)):
            raise
        raise StorageFull(exc.errno or errno.ENOSPC,
                          f"artifact disk full: cannot write {dest} ({exc.strerror or exc}); nothing of it "
                          "was published") from exc


def atomic_write(target: UPath, data: bytes, *, local: bool) -> None:
    """Publish ``data`` at ``target`` so readers see the old object or the new one."""
    if not local:
        with_retries(lambda: target.fs.pipe_file(target.path, data), what=str(target))
        return
    dest = Path(str(target.path))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(dest)
    try:
        with _disk_full_named(dest), open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def safe_relpath(relpath: str) -> str:
    """A relative artifact path with no way out of its title directory."""
    if not relpath or relpath.startswith(("/", "\\")) or "\\" in relpath or "\x00" in relpath:
        raise StorageError(f"artifact path {relpath!r} must be a relative POSIX path")
    parts = relpath.split("/")
    if any(p in ("..", ".", "") for p in parts):
        raise StorageError(f"artifact path {relpath!r} must not contain '.' or '..' components")
    return "/".join(parts)


def list_relative(base: UPath) -> list[str]:
    """Relative paths of every file below ``base`` (sorted); temp files excluded."""
    base.fs.invalidate_cache()  # s3fs caches listings; artifacts change under us
    if not with_retries(base.exists, what=str(base)):
        return []
    base_path = str(base.path).rstrip("/")
    found = with_retries(lambda: base.fs.find(base.path), what=str(base))
    rel = [str(p)[len(base_path) + 1:].rstrip("/") for p in found]
    # Skip temp files and the directory markers some S3 servers keep.
    return sorted(r for r in rel if r and not PurePosixPath(r).name.startswith("."))


def write_parquet(table: pa.Table, path: Path | str) -> None:
    """The one Parquet writer (zstd). Artifacts go through :meth:`ArtifactStore.write_table`; this
    writes a local working file (a staged or temporary path)."""
    pq.write_table(table, str(path), compression="zstd")


def iter_parquet(path_or_file, *, batch_size: int,
                 columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The one streaming Parquet reader (a local working file, e.g. from
    :meth:`ArtifactStore.local_copy`): record batches with flat memory. pyarrow's default
    ``pre_buffer=True`` keeps every column chunk it has read until the reader is closed: streaming
    a 1-hour title's frame_signals.parquet that way grew the process by ~4 kB a frame (~280 MB)."""
    pf = pq.ParquetFile(path_or_file, pre_buffer=False)
    try:
        yield from pf.iter_batches(batch_size=batch_size, columns=columns)
    finally:
        pf.close()


class ArtifactStore:
    """Reads and writes one storage root (local directory or ``s3://bucket/prefix``)."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None):
        self.uri = root
        self.storage_options = dict(storage_options or {})
        self.root, self.is_local = open_root(root, self.storage_options)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.uri!r})"

    # -- paths -------------------------------------------------------------
    def title_dir(self, title_id: str) -> UPath:
        return self.root / "titles" / validate_title_id(title_id)

    def export_dir(self, title_id: str) -> UPath:
        return self.root / "export" / validate_title_id(title_id)

    def path(self, title_id: str, relpath: str) -> UPath:
        return self.title_dir(title_id) / safe_relpath(relpath)

    def uri_of(self, title_id: str, relpath: str) -> str:
        """A printable location (a local path or an s3:// URI)."""
        p = self.path(title_id, relpath)
        return str(p.path) if self.is_local else str(p)

    # -- writes ------------------------------------------------------------
    def write_bytes(self, title_id: str, relpath: str, data: bytes) -> UPath:
        target = self.path(title_id, relpath)
        atomic_write(target, data, local=self.is_local)
        return target

    def write_text(self, title_id: str, relpath: str, text: str) -> UPath:
        return self.write_bytes(title_id, relpath, text.encode("utf-8"))

    def write_json(self, title_id: str, relpath: str, obj: Any) -> UPath:
        text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=str)
        return self.write_text(title_id, relpath, text + "\n")

    def write_table(self, title_id: str, relpath: str, table: pa.Table) -> UPath:
        """A Parquet artifact (zstd), published atomically."""
        with self.staged_file(title_id, relpath) as staged:
            write_parquet(table, staged)
        return self.path(title_id, relpath)

    def publish_files(self, title_id: str, files: Mapping[str, Path], *,
                      replace_prefixes: tuple[str, ...] = ()) -> None:
        """Publish local ``files`` (artifact path -> local file), each atomically; then drop what an
        earlier run left under ``replace_prefixes`` that this one did not publish, so a re-run
        replaces a folder of artifacts exactly."""
        for relpath, local in files.items():
            with self.staged_file(title_id, relpath) as staged:
                shutil.copyfile(local, staged)
        if replace_prefixes:
            self.remove_stale(title_id, keep=set(files), prefixes=replace_prefixes)

    def remove_stale(self, title_id: str, *, keep: set[str], prefixes: tuple[str, ...]) -> None:
        """Delete the title's artifacts under ``prefixes`` that are not in ``keep``."""
        for rel in self.list_files(title_id):
            if rel.startswith(prefixes) and rel not in keep:
                self.delete(title_id, rel)

    @contextmanager
    def staged_file(self, title_id: str, relpath: str) -> Iterator[Path]:
        """Yield a local temp path; on success it becomes the artifact atomically.

        For writers that need a file (parquet, images, video muxers). If the
        body raises, nothing is published and the temp file is removed.
        """
        target = self.path(title_id, relpath)
        suffix = PurePosixPath(relpath).suffix
        if self.is_local:
            local = Path(str(target.path))
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_sibling(local, suffix)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="prism-stage-")) / f"staged{suffix}"
        try:
            with _disk_full_named(Path(str(target.path)) if self.is_local else Path(str(target))):
                yield tmp
            if self.is_local:
                os.replace(tmp, local)
            else:
                with_retries(lambda: target.fs.put_file(str(tmp), target.path), what=str(target))
        finally:
            if self.is_local:
                tmp.unlink(missing_ok=True)
            else:
                shutil.rmtree(tmp.parent, ignore_errors=True)

    def delete(self, title_id: str, relpath: str) -> None:
        target = self.path(title_id, relpath)
        if self.exists(title_id, relpath):
            with_retries(lambda: target.fs.rm(target.path, recursive=True), what=str(target))

    # -- reads -------------------------------------------------------------
    def exists(self, title_id: str, relpath: str) -> bool:
        target = self.path(title_id, relpath)
        return with_retries(target.exists, what=str(target))

    def read_bytes(self, title_id: str, relpath: str) -> bytes:
        target = self.path(title_id, relpath)
        return with_retries(target.read_bytes, what=str(target))

    def read_table(self, title_id: str, relpath: str, columns: list[str] | None = None) -> pa.Table:
        """A Parquet artifact as an Arrow table; with ``columns``, only those columns are read.

        On S3 a column selection reads just the footer and those column chunks (ranged GETs),
        not the object: a few scalars per frame instead of the frame signals' RGB proxies.
        """
        if columns is None:
            return pq.read_table(pa.BufferReader(self.read_bytes(title_id, relpath)))
        target = self.path(title_id, relpath)
        if self.is_local:
            return pq.read_table(str(target.path), columns=columns)

        def _read() -> pa.Table:
            # No read-ahead cache: each read Parquet asks for is one ranged GET of exactly that
            # range (s3fs's default read-ahead turned the column chunks into the whole object).
            with target.fs.open(target.path, "rb", cache_type="none") as fh:
                return pq.read_table(fh, columns=columns)

        return with_retries(_read, what=str(target))

    @contextmanager
    def local_copy(self, title_id: str, relpath: str) -> Iterator[Path]:
        """A local path to an artifact, for readers that need a file (decoders, PyAV).

        The file itself on local disk; from S3 a temp copy streamed to disk (never whole in
        memory), removed afterwards.
        """
        target = self.path(title_id, relpath)
        if self.is_local:
            yield Path(str(target.path))
            return
        tmp = Path(tempfile.mkdtemp(prefix="prism-local-"))
        try:
            local = tmp / PurePosixPath(relpath).name
            with_retries(lambda: target.fs.get_file(target.path, str(local)), what=str(target))
            yield local
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def read_json(self, title_id: str, relpath: str) -> Any:
        return json.loads(self.read_bytes(title_id, relpath))

    def list_files(self, title_id: str) -> list[str]:
        """Relative paths of every artifact of a title (sorted), temp files excluded."""
        return list_relative(self.title_dir(title_id))

    def sweep_orphaned_temps(self, title_id: str) -> list[str]:
        """Remove the temp files a killed writer left in the title's folder (local disk only: an S3
        object appears whole or not at all); returns their relative paths. Temp files of live
        writers, or of other hosts, are left alone."""
        if not self.is_local:
            return []
        base = Path(str(self.title_dir(title_id).path))
        removed = []
        for tmp in sorted(base.rglob(".*.tmp-*")) if base.is_dir() else []:
            m = _TEMP_RE.match(tmp.name)
            if m is not None and tmp.is_file() and is_dead(m["token"]):
                tmp.unlink(missing_ok=True)
                removed.append(str(tmp.relative_to(base)))
        return removed

    def list_titles(self) -> list[str]:
        base = self.root / "titles"
        base.fs.invalidate_cache()
        if not with_retries(base.exists, what=str(base)):
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())
