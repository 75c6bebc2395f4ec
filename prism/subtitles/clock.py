"""The title's frame axis: seconds ↔ frame indices at its real presentation times.

A constant-rate title has frame ``i`` at ``first + i / fps`` (23.976 is 24000/1001, not 24); a
variable-rate one uses the presentation times the visual pass recorded
(``frame_signals.time_s``), so "2 frames" and "the frame of a cut" mean real frames either way.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from prism.subtitles.timecode import FrameRate

_EPS = 1e-6


@dataclass(frozen=True)
class FrameClock:
    times: tuple[float, ...]  # presentation time of every frame, ascending
    end_s: float  # the end of the last frame
    rate: FrameRate  # the nominal rate (timecode, "12 frames" as a count)

    @classmethod
    def constant(cls, rate: FrameRate, duration_s: float, first_s: float = 0.0) -> FrameClock:
        n = max(1, round((duration_s - first_s) * float(rate.fps)))
        step = 1 / rate.fps
        return cls(tuple(first_s + float(i * step) for i in range(n)), first_s + float(n * step), rate)

    @classmethod
    def from_times(cls, times: Sequence[float], rate: FrameRate, end_s: float | None = None) -> FrameClock:
        if not len(times):
            raise ValueError("a frame clock needs at least one frame time")
        ts = tuple(float(t) for t in times)
        last = ts[-1] + (ts[-1] - ts[-2] if len(ts) > 1 else 1 / float(rate.fps))
        return cls(ts, max(end_s or 0.0, last), rate)

    @property
    def frame_count(self) -> int:
        return len(self.times)

    def frames_in(self, seconds: float) -> int:
        """A duration as a whole number of frames at the nominal rate ("12 frames" = 0.5 s)."""
        return max(0, round(seconds * float(self.rate.fps)))

    def frame_at(self, t: float) -> int:
        """The frame on screen at time ``t`` (the first frame of speech starting at ``t``)."""
        return min(max(bisect_right(self.times, t + _EPS) - 1, 0), self.frame_count - 1)

    def frame_after(self, t: float) -> int:
        """The first frame starting at or after ``t`` (the exclusive end of an event ending at ``t``)."""
        return min(bisect_left(self.times, t - _EPS), self.frame_count)

    def time_of(self, frame: int) -> float:
        """Presentation time of a frame index; the frame count maps to the end of the title."""
        if frame < 0:
            return self.times[0] + frame / float(self.rate.fps)
        if frame < self.frame_count:
            return self.times[frame]
        return self.end_s + (frame - self.frame_count) / float(self.rate.fps)
