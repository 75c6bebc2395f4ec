"""Speech segments with Silero VAD (weights ship in the ``silero-vad`` package).

The 16 kHz intermediate is streamed through Silero's sequence ONNX model (the
same network, many 32 ms windows per call) with its recurrent state carried
across blocks, keeping one probability per window (about 225 k floats for two
hours). Segments come from the same hysteresis Silero's
``get_speech_timestamps`` uses (enter at ``threshold``, leave below
``threshold − 0.15`` for ``min_silence_s``), then short blips are dropped, the
edges padded, and segments longer than ``max_segment_s`` split at their least
speech-like window, so every segment fits one Whisper window; short segments
that barely cross the threshold (music and effect onsets) are dropped. Digital
silence (exact zeros) is run through the model only until its output stops
changing (about a minute): hours of silence cost next to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

from prism.audio.decode import SPEECH_RATE

WINDOW = 512  # samples per Silero window at 16 kHz (32 ms)
WINDOW_S = WINDOW / SPEECH_RATE


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_s: float = 0.25
    min_silence_s: float = 0.3
    pad_s: float = 0.1
    max_segment_s: float = 28.0
    # A short segment that only just crosses the threshold is a music/effect onset far more
    # often than a word: under ``weak_s`` it needs a mean probability of threshold + 0.15.
    weak_s: float = 1.0


@dataclass(frozen=True)
class SpeechSegment:
    start_s: float
    end_s: float
    confidence: float  # mean speech probability inside the segment

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


CONTEXT = 64  # samples of the previous window the model sees in front of each window
FRAMES_PER_CALL = 512  # windows per ONNX call (~16 s of audio)
SETTLE_WINDOWS = 2048  # zero windows (~66 s) after which the network's output stays put


@cache
def load_vad_model():
    """Silero's sequence ONNX model (bit-exact with the streaming one, many windows per call),
    loaded once per process, on first use, never at import."""
    import warnings

    from silero_vad import load_silero_vad

    with warnings.catch_warnings():  # silero-vad 6 still uses importlib.resources.path
        warnings.simplefilter("ignore", DeprecationWarning)
        return load_silero_vad(onnx=True, sequence=True)


def speech_probabilities(blocks: Iterable[np.ndarray], model=None) -> np.ndarray:
    """Speech probability per 32 ms window of a 16 kHz mono stream given in blocks of any size.
    The LSTM state and the 64-sample context are carried across blocks, so the result does
    not depend on how the stream is cut."""
    model = model or load_vad_model()
    hidden = np.zeros((1, 1, 128), np.float32)
    cell = np.zeros((1, 1, 128), np.float32)
    context = np.zeros(CONTEXT, np.float32)
    probs: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)

    # Digital silence drives the network to a steady state: after SETTLE_WINDOWS zero windows in a
    # row its output no longer changes (to 1e-7), so further zero windows get that probability
    # without running the model, and the state it had then carries on where the sound returns
    # (hours of silence cost next to nothing).
    silent_windows = 0
    settled: float | None = None  # the probability of a zero window once settled

    def run(frames: np.ndarray) -> None:
        nonlocal hidden, cell, context, silent_windows, settled
        for i in range(0, len(frames), FRAMES_PER_CALL):
            f = frames[i:i + FRAMES_PER_CALL]
            silent = not f.any() and not context.any()
            if silent and settled is not None:
                probs.append(np.full(len(f), settled, np.float32))
                continue
            ctx = np.empty((len(f), CONTEXT), np.float32)
            ctx[0] = context
            ctx[1:] = f[:-1, -CONTEXT:]
            context = f[-1, -CONTEXT:].copy()
            inputs = {"input": np.concatenate([ctx, f], axis=1), "h": hidden, "c": cell}
            values, hidden, cell = model.session.run(["speech_probs", "hn", "cn"], inputs)
            probs.append(np.asarray(values, np.float32).reshape(-1))
            silent_windows = silent_windows + len(f) if silent else 0
            settled = float(probs[-1][-1]) if silent_windows >= SETTLE_WINDOWS else None

    for block in blocks:
        data = np.concatenate([carry, np.asarray(block, np.float32)])
        whole = data.size // WINDOW * WINDOW
        if whole:
            run(data[:whole].reshape(-1, WINDOW))
        carry = data[whole:]
    if carry.size:
        last = np.zeros((1, WINDOW), np.float32)
        last[0, :carry.size] = carry
        run(last)
    return np.concatenate(probs) if probs else np.zeros(0, np.float32)


def segments_from_probabilities(probs: np.ndarray, duration_s: float,
                                options: VadOptions = VadOptions()) -> list[SpeechSegment]:
    enter, leave = options.threshold, max(options.threshold - 0.15, 0.01)
    min_silence = int(np.ceil(options.min_silence_s / WINDOW_S))
    raw: list[tuple[int, int]] = []  # window index ranges [start, end)
    start = None
    quiet_since = None
    for i, p in enumerate(probs):
        if start is None:
            if p >= enter:
                start, quiet_since = i, None
            continue
        if p >= enter:
            quiet_since = None
        elif p < leave:
            if quiet_since is None:
                quiet_since = i
            if i + 1 - quiet_since >= min_silence:
                raw.append((start, quiet_since))
                start, quiet_since = None, None
    if start is not None:
        raw.append((start, quiet_since if quiet_since is not None else len(probs)))

    max_windows = max(1, int(options.max_segment_s / WINDOW_S))
    split: list[tuple[int, int]] = []
    for a, b in raw:
        while b - a > max_windows:
            lo = a + max_windows // 2
            cut = lo + int(np.argmin(probs[lo:a + max_windows]))
            split.append((a, cut))
            a = cut
        split.append((a, b))

    segments: list[SpeechSegment] = []
    pad = options.pad_s
    for a, b in split:
        if (b - a) * WINDOW_S < options.min_speech_s:
            continue
        if (b - a) * WINDOW_S < options.weak_s and probs[a:b].mean() < options.threshold + 0.15:
            continue
        s = max(0.0, a * WINDOW_S - pad)
        e = min(duration_s, b * WINDOW_S + pad)
        if segments and s < segments[-1].end_s:  # padding met the previous segment: share the gap
            mid = (segments[-1].end_s - pad + s + pad) / 2
            prev = segments[-1]
            segments[-1] = SpeechSegment(prev.start_s, max(prev.start_s, mid), prev.confidence)
            s = mid
        segments.append(SpeechSegment(round(s, 3), round(e, 3), float(probs[a:b].mean())))
    return [SpeechSegment(round(g.start_s, 3), round(g.end_s, 3), g.confidence)
            for g in segments if g.end_s > g.start_s]


def detect_speech(blocks: Iterable[np.ndarray], duration_s: float,
                  options: VadOptions = VadOptions(), model=None) -> list[SpeechSegment]:
    return segments_from_probabilities(speech_probabilities(blocks, model), duration_s, options)
