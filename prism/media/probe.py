"""Probe a delivered media file with PyAV: streams, duration, frame rate, VFR, rotation.

The probe demuxes (never decodes) video packets from the head of the stream
and from its last seconds to measure the real duration from presentation
timestamps, detect variable frame rate and notice truncation; the I/O is
bounded whatever the title's length. It decodes the first frame to prove the
stream is decodable. Every way a delivery can be broken maps to a
:class:`MediaError` with a stable ``code`` and a message a person can act on.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import IO, Literal

import av
from pydantic import BaseModel

PROBE_VERSION = "1"
# B-frames reorder presentation timestamps inside a small window (H.264/HEVC keep at
# most 16 reference pictures); a heap of this size restores presentation order while
# streaming, so memory stays flat.
_REORDER_WINDOW = 16
# The probe reads this much video from the start (frame-interval statistics) and the
# last _TAIL_WINDOW_S seconds (the real end); shorter titles are read whole.
HEAD_WINDOW_S = 120.0
_TAIL_WINDOW_S = 10.0


class MediaError(ValueError):
    """A delivery whose media cannot be processed. ``code`` is stable, ``str()`` is specific."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class VideoInfo(BaseModel):
    index: int
    codec: str
    width: int
    height: int
    fps: float  # mean frames per second over the measured duration
    nominal_fps: float | None  # the stream's declared rate
    vfr: bool
    rotation: int  # clockwise degrees to rotate for display (the legacy 'rotate' tag)
    frame_count: int  # counted when the probe read the whole stream, else estimated
    frame_count_exact: bool
    duration_s: float
    pix_fmt: str | None
    decodable: bool
    decode_error: str | None = None


class AudioInfo(BaseModel):
    index: int  # stream index in the container
    track: int  # 0-based ordinal among audio streams
    codec: str
    channels: int
    sample_rate: int
    language: str | None
    duration_s: float | None


class ProbeResult(BaseModel):
    probe_version: Literal["1"] = PROBE_VERSION
    container: str
    size_bytes: int | None
    duration_s: float
    video: VideoInfo | None
    audio: list[AudioInfo]

    @property
    def has_decodable_video(self) -> bool:
        return self.video is not None and self.video.decodable


def _language(stream: av.stream.Stream) -> str | None:
    lang = (stream.metadata or {}).get("language")
    return None if not lang or lang.lower() in ("und", "unk", "") else lang


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _open(source: str | IO[bytes]) -> av.container.InputContainer:
    if isinstance(source, str):
        if not os.path.exists(source):
            raise MediaError("missing", f"media file not found: {source}")
        if os.path.isdir(source):
            raise MediaError("not_a_file", f"media path is a directory: {source}")
        if os.path.getsize(source) == 0:
            raise MediaError("empty_file", "media file is empty (0 bytes)")
    try:
        return av.open(source, mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        if _looks_like_isobmff(source):
            raise MediaError(
                "truncated",
                "MP4/MOV file has no readable index (moov box): the upload is truncated "
                "or was cut off before the muxer finished",
            ) from None
        raise MediaError(
            "not_media",
            f"not a recognisable media container (FFmpeg: {exc.strerror or exc}); "
            "the file is not a video, or its header is damaged or missing (truncated upload?)",
        ) from None
    except av.error.FFmpegError as exc:
        raise MediaError("unreadable", f"cannot open media: {exc}") from None


def _looks_like_isobmff(source: str | IO[bytes]) -> bool:
    """An ISO-BMFF file starts with an ``ftyp`` box: then a failed open means a lost index."""
    try:
        if isinstance(source, str):
            with open(source, "rb") as fh:
                head = fh.read(12)
        else:
            source.seek(0)
            head = source.read(12)
    except OSError:
        return False
    return len(head) >= 8 and head[4:8] == b"ftyp"


@dataclass
class _Scan:
    """Presentation-order statistics of the video packets in one stretch of the stream."""

    count: int = 0
    first: int | None = None
    last: int | None = None
    last_duration: int = 0
    deltas: Counter[int] = field(default_factory=Counter)
    reached_end: bool = False


def _scan_video(container, stream, *, limit_ticks: int | None = None) -> _Scan:
    """Demux (not decode) video packets from the current position, in presentation order.

    Stops after ``limit_ticks`` of stream time when given, else at the end of the file.
    """
    scan = _Scan()
    heap: list[int] = []
    prev = None

    def _emit(pts: int) -> None:
        nonlocal prev
        scan.count += 1
        if scan.first is None:
            scan.first = pts
        if prev is not None and pts > prev:
            scan.deltas[pts - prev] += 1
        prev = pts
        scan.last = pts if scan.last is None else max(scan.last, pts)

    start = None
    try:
        for packet in container.demux(stream):
            if packet.pts is None:
                continue  # flush packet
            start = packet.pts if start is None else start
            if packet.duration:
                scan.last_duration = packet.duration
            heapq.heappush(heap, packet.pts)
            if len(heap) > _REORDER_WINDOW:
                _emit(heapq.heappop(heap))
            if limit_ticks is not None and packet.pts - start > limit_ticks:
                # Pictures still in the heap may have reordered neighbours not read yet:
                # drop them rather than count holes as long frame intervals.
                return scan
        scan.reached_end = True
    except av.error.FFmpegError as exc:
        raise MediaError(
            "corrupt", f"video stream is corrupt after {scan.count} frames: {exc}"
        ) from None
    while heap:
        _emit(heapq.heappop(heap))
    return scan


def probe_media(source: str | IO[bytes], *, size_bytes: int | None = None,
                head_window_s: float = HEAD_WINDOW_S) -> ProbeResult:
    """Probe a local path or a seekable binary file object (e.g. an s3fs file).

    Reads at most ``head_window_s`` of video from the start plus the stream's last
    seconds, so the I/O is bounded whatever the title's length.
    """
    if isinstance(source, str) and size_bytes is None and os.path.isfile(source):
        size_bytes = os.path.getsize(source)
    with _open(source) as container:
        fmt = container.format.name
        audio_streams = list(container.streams.audio)
        video_streams = [s for s in container.streams.video
                         if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not video_streams and not audio_streams:
            raise MediaError("no_streams", f"container ({fmt}) holds no video or audio stream")
        header_duration = container.duration / av.time_base if container.duration else None

        video = (_probe_video(container, video_streams[0], header_duration, head_window_s)
                 if video_streams else None)

        audio = [
            AudioInfo(
                index=s.index,
                track=i,
                codec=s.codec_context.name if s.codec_context else "unknown",
                channels=s.codec_context.channels if s.codec_context else 0,
                sample_rate=s.codec_context.sample_rate if s.codec_context else 0,
                language=_language(s),
                duration_s=_seconds(s.duration, s.time_base),
            )
            for i, s in enumerate(audio_streams)
        ]
        if video is not None:
            duration = video.duration_s
        else:
            duration = header_duration or max((a.duration_s or 0.0 for a in audio), default=0.0)
    return ProbeResult(container=fmt, size_bytes=size_bytes, duration_s=round(duration, 6),
                       video=video, audio=audio)


def _probe_video(container, stream, header_duration: float | None, head_window_s: float) -> VideoInfo:
    ctx = stream.codec_context
    codec = ctx.name if ctx else "unknown"
    time_base = stream.time_base or Fraction(1, 90000)
    nominal = stream.average_rate or stream.guessed_rate or stream.base_rate
    nominal_fps = float(nominal) if nominal else None

    decodable, decode_error, rotation = _decode_first_frame(container, stream)

    # Bounded I/O: frame intervals from the head of the stream, the real end from its tail.
    # A full title on S3 is gigabytes; the visual pass reads it once anyway.
    container.seek(0, stream=stream)
    head = _scan_video(container, stream, limit_ticks=int(head_window_s / time_base))
    if head.count == 0:
        raise MediaError("no_video_frames", "video stream holds no frames (truncated delivery?)")
    deltas = Counter(head.deltas)
    end = head
    if not head.reached_end:
        end = _scan_tail(container, stream, header_duration, time_base, head)
        deltas.update(end.deltas)
    typical = deltas.most_common(1)[0][0] if deltas else (end.last_duration or 1)
    frame_dur = end.last_duration or typical
    duration = float((end.last - head.first + frame_dur) * time_base)
    if end is head:
        frame_count, exact = head.count, True
    else:
        head_span = float((head.last - head.first + typical) * time_base)
        frame_count, exact = round(duration * head.count / head_span), False
    fps = frame_count / duration if duration > 0 else (nominal_fps or 0.0)
    # Variable frame rate: more than 1% of frame intervals differ from the typical one by >10%.
    irregular = sum(n for d, n in deltas.items() if abs(d - typical) > 0.1 * typical)
    vfr = bool(deltas) and irregular > 0.01 * sum(deltas.values())

    if header_duration and header_duration > 2.0 and duration < 0.9 * header_duration - 1.0:
        raise MediaError(
            "truncated",
            f"video stream ends at {duration:.2f}s but the container declares "
            f"{header_duration:.2f}s: the file is truncated",
        )
    return VideoInfo(
        index=stream.index, codec=codec, width=ctx.width, height=ctx.height,
        fps=round(fps, 4), nominal_fps=round(nominal_fps, 4) if nominal_fps else None,
        vfr=vfr, rotation=rotation, frame_count=frame_count, frame_count_exact=exact,
        duration_s=round(duration, 6), pix_fmt=ctx.pix_fmt, decodable=decodable,
        decode_error=decode_error,
    )


def _scan_tail(container, stream, header_duration, time_base, head: _Scan) -> _Scan:
    """Scan the last stretch of the stream (seeking there), or the rest of it without a duration."""
    if not header_duration:
        # No declared duration to seek by: keep reading to the end.
        rest = _scan_video(container, stream)
        rest.first, rest.count = head.first, head.count + rest.count
        return rest
    target = header_duration - _TAIL_WINDOW_S
    try:
        container.seek(int(max(target, 0.0) / time_base) + (head.first or 0), stream=stream,
                       backward=True)
    except av.error.FFmpegError as exc:
        raise MediaError("truncated", f"cannot seek to the end of the video stream ({exc}): "
                         "the file is truncated or its index is damaged") from None
    tail = _scan_video(container, stream)
    if tail.count == 0 or tail.last is None:
        raise MediaError("truncated", f"no video data near the declared end ({header_duration:.2f}s): "
                         "the file is truncated")
    return tail


def _decode_first_frame(container, stream) -> tuple[bool, str | None, int]:
    """Decode until the first picture: proves the stream decodes; reads display rotation."""
    try:
        for frame in container.decode(stream):
            # The display matrix counts counter-clockwise; Prism reports clockwise.
            return True, None, (-round(frame.rotation or 0)) % 360
        return False, "the video stream produced no decodable frame", 0
    except av.error.FFmpegError as exc:
        return False, f"the first video frame does not decode: {exc}", 0
