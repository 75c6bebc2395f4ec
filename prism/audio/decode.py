"""Decode each audio track once, streaming, into what every audio step needs.

One pass over a track's packets feeds two consumers at the same time: the
loudness meter gets full-rate float samples (all channels), and a 16 kHz mono
FLAC intermediate is written for the speech models (VAD, Whisper). Nothing in
Prism decodes the delivered audio again; the speech steps read the small
intermediate, and loudness figures come from the meter's 100 ms energies.
Memory is flat in title length: frames are processed and dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import av
import numpy as np

from prism.audio.loudness import LoudnessMeter, MeterBlocks

SPEECH_RATE = 16_000


class AudioDecodeError(RuntimeError):
    """An audio track that cannot be decoded; the message names the track and the cause."""


class ZeroRuns:
    """Runs of digital silence (every channel exactly 0.0) of at least ``min_s`` seconds, found
    in the full-rate samples as they stream past (vectorised per block; a run may span blocks)."""

    def __init__(self, rate: int, min_s: float = 1.0):
        self.rate, self.min_samples = rate, max(1, int(round(min_s * rate)))
        self.pos = 0  # samples seen
        self.open_since: int | None = None  # start of a run still going at the last block's end
        self.runs: list[tuple[int, int]] = []

    def add(self, block: np.ndarray) -> None:
        zero = ~np.any(np.atleast_2d(block) != 0, axis=0)
        n = zero.size
        if n == 0:
            return
        edges = np.diff(np.concatenate(([0], zero.view(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        starts, ends = starts + self.pos, ends + self.pos
        if starts.size and self.open_since is not None and starts[0] == self.pos:
            starts[0] = self.open_since
        elif self.open_since is not None:  # the open run ended exactly at the block edge
            self._close(self.open_since, self.pos)
        self.open_since = None
        if starts.size and ends[-1] == self.pos + n:  # still zero at the block's end: keep it open
            self.open_since = int(starts[-1])
            starts, ends = starts[:-1], ends[:-1]
        for a, b in zip(starts[ends - starts >= self.min_samples], ends[ends - starts >= self.min_samples],
                        strict=True):
            self.runs.append((int(a), int(b)))
        self.pos += n

    def _close(self, start: int, end: int) -> None:
        if end - start >= self.min_samples:
            self.runs.append((start, end))

    def finish(self) -> list[tuple[float, float]]:
        if self.open_since is not None:
            self._close(self.open_since, self.pos)
            self.open_since = None
        return [(round(a / self.rate, 3), round(b / self.rate, 3)) for a, b in self.runs]


@dataclass
class DecodedTrack:
    track: int
    stream_index: int
    codec: str
    language: str | None
    rate: int
    channels: int
    layout: str
    duration_s: float
    meter: MeterBlocks
    digital_silence: list[tuple[float, float]] = field(default_factory=list)  # runs of exact zeros >= 1 s


class _TrackDecoder:
    """Per-track state of the single pass: meter at full rate + 16 kHz FLAC writer."""

    def __init__(self, track: int, stream, speech_path: Path):
        self.track, self.stream = track, stream
        language = (stream.metadata or {}).get("language")
        self.language = None if not language or language.lower() in ("und", "unk") else language
        self.meter: LoudnessMeter | None = None
        self.zeros: ZeroRuns | None = None
        self.full_rate: av.AudioResampler | None = None
        self.to_speech = av.AudioResampler(format="s16", layout="mono", rate=SPEECH_RATE)
        self.out = av.open(str(speech_path), mode="w", format="flac")
        self.out_stream = self.out.add_stream("flac", rate=SPEECH_RATE, layout="mono")
        self.rate = self.channels = 0
        self.layout = ""
        self.bad_packets = 0
        self._pending: list[np.ndarray] = []
        self._pending_n = 0

    def _speech(self, frames) -> None:
        for f in frames:
            f.pts = None
            for packet in self.out_stream.encode(f):
                self.out.mux(packet)

    def feed(self, frame: av.AudioFrame) -> None:
        if self.meter is None:
            self.rate, self.layout = frame.sample_rate, frame.layout.name
            names = [c.name for c in frame.layout.channels]
            self.channels = len(names)
            self.meter = LoudnessMeter(self.rate, names)
            self.zeros = ZeroRuns(self.rate)
            # Packed float at the stream's own rate and layout, the meter's input once de-interleaved.
            # (Not planar: PyAV 18 gives an 8-channel planar frame a 9th plane with a wild pointer,
            # and to_ndarray() on a 7.1 track crashed the process.)
            self.full_rate = av.AudioResampler(format="flt", layout=frame.layout, rate=self.rate)
        for f in self.full_rate.resample(frame):
            self._pending.append(f.to_ndarray().reshape(-1, self.channels).T)
            self._pending_n += f.samples
        if self._pending_n >= self.rate // 2:
            self._flush_meter()
        self._speech(self.to_speech.resample(frame))

    def _flush_meter(self) -> None:
        # Codec frames are ~20 ms; the meter's per-call work is vectorised, so half-second
        # batches keep Python overhead small while memory stays bounded.
        if self._pending:
            block = np.concatenate(self._pending, axis=1)
            self.meter.add(block)
            self.zeros.add(block)
        self._pending, self._pending_n = [], 0

    def finish(self) -> DecodedTrack:
        if self.full_rate is not None:
            for f in self.full_rate.resample(None):
                self._pending.append(f.to_ndarray().reshape(-1, self.channels).T)
            self._flush_meter()
        self._speech(self.to_speech.resample(None))
        for packet in self.out_stream.encode(None):
            self.out.mux(packet)
        self.out.close()
        if self.meter is None:
            raise AudioDecodeError(
                f"audio track {self.track} ({self.stream.codec_context.name}) has no decodable audio")
        blocks = self.meter.finish()
        return DecodedTrack(
            track=self.track, stream_index=self.stream.index, codec=self.stream.codec_context.name,
            language=self.language, rate=self.rate, channels=self.channels, layout=self.layout,
            duration_s=blocks.duration_s, meter=blocks, digital_silence=self.zeros.finish(),
        )

    def close(self) -> None:
        try:
            self.out.close()
        except Exception:  # already closed, or failed mid-write: the caller discards the file
            pass


def decode_tracks(source: str | IO[bytes], speech_dir: Path) -> list[DecodedTrack]:
    """Decode every audio track of ``source`` in ONE demux pass: each track's frames feed its
    loudness meter (full rate) and its 16 kHz mono FLAC ``speech_dir/track<N>.16k.flac``.
    Video packets are read past, never decoded. No audio → an empty list."""
    if not isinstance(source, str):
        source.seek(0)
    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise AudioDecodeError(f"cannot open media: {exc}") from None
    with container:
        streams = list(container.streams.audio)
        if not streams:
            return []
        decoders = {s.index: _TrackDecoder(i, s, speech_dir / speech_file(i)) for i, s in enumerate(streams)}
        for s in streams:
            s.thread_type = "AUTO"
        try:
            for packet in container.demux(streams):
                decoder = decoders[packet.stream.index]
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    # A damaged packet in a long track is skipped (FFmpeg's own behaviour);
                    # a track made of damaged packets is reported.
                    decoder.bad_packets += 1
                    if decoder.bad_packets > 50:
                        raise AudioDecodeError(
                            f"audio track {decoder.track}: too many undecodable packets") from None
                    continue
                for frame in frames:
                    decoder.feed(frame)
            return [decoders[s.index].finish() for s in streams]
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(f"audio decoding failed: {exc}") from None
        finally:
            for d in decoders.values():
                d.close()


def speech_file(track: int) -> str:
    return f"track{track}.16k.flac"


def read_speech_audio(path: Path | str, block_s: float = 30.0) -> Iterator[np.ndarray]:
    """Stream the 16 kHz mono intermediate as float32 blocks of about ``block_s`` seconds."""
    block = int(block_s * SPEECH_RATE)
    pending: list[np.ndarray] = []
    have = 0
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SPEECH_RATE)
        for frame in container.decode(audio=0):
            for f in resampler.resample(frame):
                pending.append(f.to_ndarray().reshape(-1))
                have += pending[-1].size
            while have >= block:
                data = np.concatenate(pending)
                yield data[:block]
                rest = data[block:]
                pending, have = ([rest] if rest.size else []), rest.size
        for f in resampler.resample(None):
            pending.append(f.to_ndarray().reshape(-1))
    if pending:
        data = np.concatenate(pending)
        if data.size:
            yield data


def speech_samples_in(path: Path | str, ranges: list[tuple[float, float]]) -> Iterator[np.ndarray]:
    """The samples of each (sorted, non-overlapping) time range, in one sequential pass."""
    ranges = sorted(ranges)
    it = iter(ranges)
    current = next(it, None)
    buffered = np.zeros(0, np.float32)
    offset = 0  # sample index of buffered[0]
    for block in read_speech_audio(path):
        buffered = np.concatenate([buffered, block])
        while current is not None:
            start, end = (int(round(t * SPEECH_RATE)) for t in current)
            if offset + buffered.size < end:
                break
            yield buffered[max(0, start - offset):end - offset].copy()
            current = next(it, None)
        # keep only what a later range may still need
        keep_from = (int(round(current[0] * SPEECH_RATE)) if current else offset + buffered.size) - offset
        keep_from = max(0, min(keep_from, buffered.size))
        buffered, offset = buffered[keep_from:], offset + keep_from
    while current is not None:  # ranges reaching past the end get what exists
        start, end = (int(round(t * SPEECH_RATE)) for t in current)
        yield buffered[max(0, start - offset):max(0, end - offset)].copy()
        current = next(it, None)
