"""The one streaming decode pass over a title's video.

Every frame is decoded once (PyAV, frame+slice threading) and reduced on the
spot to a sparse sample grid (see :mod:`prism.visual.signals`); chunks of
frames become rows of ``frame_signals.parquet`` (written row group by row
group, so memory stays flat). Thumbnail tiles for the sprite sheets are taken
from the same frames. Times are presentation timestamps, so variable frame
rate titles get correct times.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prism.storage import iter_parquet
from prism.visual.captures import CaptureOptions, FrameCapturer
from prism.visual.signals import (
    SIGNALS_SCHEMA,
    SLOT_SIZES,
    ChunkCarry,
    compute_signals,
    direct_format,
    frame_stats,
    gather,
    plane_layout,
)
from prism.visual.sprites import SpriteWriter, tile_size

PASS_VERSION = "2"  # 2: captures keyframe candidates and on-screen text samples
# Signals are computed 32 frames at a time (the working set stays in cache) and written
# to parquet in row groups of ROW_GROUP_FRAMES.
CHUNK_FRAMES = 32
ROW_GROUP_FRAMES = 1024
# A segment's decode starts this long before it (from the keyframe before that), so the frames
# before its first one are there to prime the carried state.
SEGMENT_WARMUP_S = 1.0
DECODE_AHEAD_FRAMES = 8  # frames a hardware decoder may run ahead of the pass (1080p NV12: 3 MB each)


class VisualDecodeError(RuntimeError):
    """The video stream cannot be decoded through (corrupt data, no frames)."""


@dataclass
class PassSummary:
    frame_count: int
    duration_s: float  # last presentation time + its frame's duration
    first_time_s: float
    width: int
    height: int
    rotation: int
    mean_fps: float
    pix_fmt: str
    thumbnails: int = 0
    sprite_sheets: list[str] = field(default_factory=list)
    captures: dict = field(default_factory=dict)  # counts from prism.visual.captures (when captured)
    decoder: str = ""  # the FFmpeg decoder that decoded the frames (h264, h264_cuvid, ...)
    decoder_note: str = ""  # why it is not the one asked for (NVDEC missing here, or not for this codec)
    segments: int = 1  # decoded side by side in this many time segments (prism.visual.segments)


# NVDEC's decoders in FFmpeg, by the stream's codec (what PyAV's wheels carry).
NVDEC_DECODERS = {
    "h264": "h264_cuvid", "hevc": "hevc_cuvid", "av1": "av1_cuvid", "vp9": "vp9_cuvid", "vp8": "vp8_cuvid",
    "mpeg2video": "mpeg2_cuvid", "mpeg4": "mpeg4_cuvid", "vc1": "vc1_cuvid", "mjpeg": "mjpeg_cuvid",
}


def _rotate(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate clockwise by ``rotation`` degrees for display."""
    return np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90) % 4)) if rotation % 360 else rgb


def _decoded_frames(container, stream, decoder: str, skip_loop_filter: bool) -> tuple[Iterator, str, str]:
    """The stream's frames in presentation order, the decoder's name and a note when it is not
    the one asked for. ``decoder``: ``software`` (the stream's own, on every core), ``nvdec``
    (NVDEC when FFmpeg has it for the codec and it starts here, else software), or a decoder's name."""
    codec = stream.codec_context.name
    note = ""
    if decoder == "nvdec":
        name = NVDEC_DECODERS.get(codec)
        if name is None:
            note = f"NVDEC does not decode {codec}: decoded in software"
        else:
            try:
                return _named_decoder_frames(container, stream, name), name, ""
            except VisualDecodeError as exc:
                note = f"NVDEC unavailable ({exc}): decoded in software"
    elif decoder != "software":
        return _named_decoder_frames(container, stream, decoder), decoder, ""
    stream.thread_type = "AUTO"
    if skip_loop_filter:
        stream.codec_context.options = {"skip_loop_filter": "all"}
    return container.decode(stream), codec, note


def _named_decoder_frames(container, stream, decoder: str) -> Iterator:
    try:
        context = av.CodecContext.create(decoder, "r")
        context.extradata = stream.codec_context.extradata
        context.width, context.height = stream.codec_context.width, stream.codec_context.height
        context.open()
    except (av.error.FFmpegError, ValueError) as exc:  # unknown name, no device, no driver library
        raise VisualDecodeError(f"the decoder {decoder!r} cannot decode this stream here: {exc}") from None
    # A hardware decoder works beside the CPU: decoding ahead on a thread overlaps it with the
    # pass's own work (a software decoder already keeps every core busy with its frame threads).
    return _decoded_ahead(frame for packet in container.demux(stream) for frame in context.decode(packet))


_END = object()


def _decoded_ahead(frames: Iterator, depth: int = DECODE_AHEAD_FRAMES) -> Iterator:
    """``frames``, produced on a thread up to ``depth`` frames ahead of the consumer; the
    producer's exception is raised in the consumer. Closing the iterator stops the thread."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not hand_over(frame):
                    return
            hand_over(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            hand_over(exc)

    worker = threading.Thread(target=produce, name="prism-decode-ahead", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def run_pass(source: str | IO[bytes], signals_path: Path, sprite_dir: Path, *,
             rotation: int = 0, thumbnail_interval_s: float = 5.0, thumbnail_width: int = 160,
             skip_loop_filter: bool = True, chunk_frames: int = CHUNK_FRAMES,
             capture: CaptureOptions | None = None, decoder: str = "software",
             segment: tuple[float, float] | None = None) -> tuple[PassSummary, str]:
    """Decode ``source`` once; write signals to ``signals_path`` and sprites into ``sprite_dir``,
    and, with ``capture``, the full-resolution keyframe candidates and on-screen text samples
    (:mod:`prism.visual.captures`).

    ``skip_loop_filter`` skips the codec's in-loop deblocking filter (H.264/HEVC): about a
    fifth less decoding work, invisible in 48x27 cells and 160 px thumbnails; the captured frames
    come from the same decode (43 dB PSNR or better against a full decode on the benchmark title).
    ``decoder``: ``software`` (the stream's own decoder, on every core), ``nvdec`` (the GPU's
    hardware decoder where it can decode the stream, else software; the summary says which), or
    an FFmpeg decoder's name, which must work.
    ``segment`` (start_s, end_s) passes only the frames presented in [start_s, end_s), numbered
    from 0; the frames just before start_s are decoded too, so that what carries from frame to
    frame (differences, motion, provisional cuts) is what the whole pass has there
    (:func:`run_pass_segmented` runs segments side by side and joins them).
    Returns the summary and the thumbnails VTT text.
    """
    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise VisualDecodeError(f"cannot open the media: {exc}") from None
    with container:
        streams = [s for s in container.streams.video
                   if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not streams:
            raise VisualDecodeError("the media has no video stream")
        stream = streams[0]
        start_s, end_s = segment or (0.0, math.inf)
        if start_s > 0:
            try:
                container.seek(max(0, int((start_s - SEGMENT_WARMUP_S) / stream.time_base)), stream=stream)
            except av.error.FFmpegError as exc:
                raise VisualDecodeError(f"cannot seek to {start_s:.3f} s: {exc}") from None
        frames, decoder_used, decoder_note = _decoded_frames(container, stream, decoder, skip_loop_filter)

        writer: pq.ParquetWriter | None = None
        sprites: SpriteWriter | None = None
        layout = None
        carry = ChunkCarry()
        bufs = [np.empty((chunk_frames, size), np.uint8) for size in SLOT_SIZES]
        times = np.empty(chunk_frames, np.float64)
        keys = np.zeros(chunk_frames, bool)
        k = count = 0
        first_time = last_time = None
        last_dur = 0.0
        last_frame = None
        next_thumb = start_s
        pix_fmt = ""
        width = height = 0

        pending: list = []
        capturer = FrameCapturer(capture, rotation, start_s) if capture is not None else None
        previous_luma = None
        warm = None  # the samples of the last frame before the segment

        def flush(final: bool = False) -> None:
            nonlocal k, writer
            if k:
                pending.append(compute_signals(count - k, times[:k], [b[:k] for b in bufs], layout, carry,
                                               keys[:k].copy()))
                k = 0
            if pending and (final or sum(t.num_rows for t in pending) >= ROW_GROUP_FRAMES):
                if writer is None:
                    writer = pq.ParquetWriter(str(signals_path), SIGNALS_SCHEMA, compression="zstd")
                writer.write_table(pa.concat_tables(pending))
                pending.clear()

        try:
            for frame in frames:
                if layout is None:
                    pix_fmt, width, height = frame.format.name, frame.width, frame.height
                    direct = direct_format(pix_fmt)
                    layout = plane_layout(frame if direct else frame.reformat(format="yuv420p"))
                    dw, dh = (height, width) if rotation % 180 == 90 else (width, height)
                    tw, th = tile_size(dw, dh, thumbnail_width)
                    sprites = SpriteWriter(sprite_dir, tw, th, raw=segment is not None)
                t = frame.time
                if t is None:
                    t = (last_time + (last_dur or 0.04)) if last_time is not None else 0.0
                if last_time is not None:
                    t = max(t, last_time + 1e-6)  # presentation order is monotonic by definition
                if t >= end_s:
                    break
                if last_time is not None:
                    last_dur = t - last_time
                last_time = t
                src = frame if direct else frame.reformat(format="yuv420p")
                if frame.width != width or frame.height != height:  # a mid-stream size change
                    width, height = frame.width, frame.height
                    layout = plane_layout(src)
                if t < start_s:  # before the segment: prime what carries over, keep nothing
                    warm = warm or [np.empty(size, np.uint8) for size in SLOT_SIZES]
                    gather(src, layout, warm)
                    if capturer is not None:
                        _, motion, _, previous_luma = frame_stats(warm, previous_luma, layout)
                        capturer.prime(motion)
                    continue
                if warm is not None:  # the differences of the segment's first frame
                    compute_signals(0, np.zeros(1), [w[None] for w in warm], layout, carry)
                    warm = None
                if first_time is None:
                    first_time = t
                last_frame = frame

                slots = [b[k] for b in bufs]
                gather(src, layout, slots)
                if capturer is not None:
                    sharp, motion, black, previous_luma = frame_stats(slots, previous_luma, layout)
                    capturer.add(count, t, frame, sharp, motion, black)
                times[k] = t
                keys[k] = frame.key_frame
                k += 1
                count += 1

                if t >= next_thumb - 1e-6:
                    # Cues sit on a regular grid of slots [k*interval, (k+1)*interval); the first
                    # one starts at 0 even when the first picture is a little later. A time on the
                    # grid is in its own slot, whatever the rounding (1e-6), and slots are computed
                    # from their number, not summed (a sum drifts off the grid).
                    number = math.floor(t / thumbnail_interval_s + 1e-6)
                    slot = number * thumbnail_interval_s
                    tw, th = sprites.tile_w, sprites.tile_h
                    tile = frame.to_ndarray(width=th if rotation % 180 == 90 else tw,
                                            height=tw if rotation % 180 == 90 else th,
                                            format="rgb24", interpolation="AREA")
                    sprites.add(slot if sprites.tiles or start_s > 0 else 0.0, _rotate(tile, rotation))
                    next_thumb = (number + 1) * thumbnail_interval_s

                if k == chunk_frames:
                    flush()
            flush(final=True)
            captured = capturer.finish() if capturer is not None else {}
            capturer = None
        except av.error.FFmpegError as exc:
            raise VisualDecodeError(f"video stream is corrupt after {count} frames: {exc}") from None
        finally:
            frames.close()  # before the container closes (a decode-ahead thread reads from it)
            if capturer is not None:  # an error on the way: stop the encoder thread
                capturer.abort()
            if writer is not None:
                writer.close()
        if count == 0:
            raise VisualDecodeError("the video stream produced no decodable frame")

    # The stream's own duration of the last frame when it carries one (its length is not
    # knowable from timestamps alone), else the previous interval.
    own_dur = (float(last_frame.duration * last_frame.time_base)
               if last_frame.duration and last_frame.time_base else 0.0)
    duration = last_time + (own_dur or last_dur or (1.0 / float(stream.average_rate or 25)))
    vtt = sprites.finish(duration)
    summary = PassSummary(
        frame_count=count, duration_s=round(duration, 6), first_time_s=first_time, width=width,
        height=height, rotation=rotation, mean_fps=round(count / max(duration - first_time, 1e-9), 4),
        pix_fmt=pix_fmt, thumbnails=len(sprites.tiles), sprite_sheets=list(sprites.sheets),
        captures=captured, decoder=decoder_used, decoder_note=decoder_note,
    )
    return summary, vtt


def iter_signal_batches(path_or_file, columns: list[str] | None = None, batch_frames: int = 2048):
    """Stream ``frame_signals.parquet`` back as record batches (flat memory)."""
    yield from iter_parquet(path_or_file, batch_size=batch_frames, columns=columns)


def read_scalars(path_or_file, columns: list[str]) -> dict[str, np.ndarray]:
    """Selected scalar columns of every frame (small: a few floats per frame)."""
    return scalar_arrays(pq.read_table(path_or_file, columns=columns))


def scalar_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    """The columns of a frame-signals selection as numpy arrays."""
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
