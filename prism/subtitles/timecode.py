"""SMPTE timecode (ST 12-1) ↔ frame counts ↔ seconds, drop-frame included.

A rate is an exact fraction (24000/1001 for "23.976"). Timecode counts frames at the nominal
integer rate (24, 30, 60 for the 1000/1001 rates); drop-frame timecode (29.97, 59.94) skips frame
numbers 0 and 1 (0–3 at 59.94) at the start of every minute except each tenth, so the timecode
stays within a few milliseconds of the clock. 23.976 has no drop-frame form: it is counted at 24.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# The broadcast rates a measured rate snaps to (the nearest, within 0.2 %).
STANDARD_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                  Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60))

_TC = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


class TimecodeError(ValueError):
    """A timecode string or rate that cannot be read."""


@dataclass(frozen=True)
class FrameRate:
    """A frame rate as an exact fraction, and whether its timecode drops frame numbers."""

    fps: Fraction
    drop_frame: bool = False

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise TimecodeError(f"frame rate must be positive, got {self.fps}")
        if self.drop_frame and self.timebase not in (30, 60):
            raise TimecodeError(f"drop-frame timecode exists for 29.97 and 59.94 only, "
                                f"not {float(self.fps):.3f}")

    @classmethod
    def of(cls, fps: float | Fraction | str, drop_frame: bool | None = None) -> FrameRate:
        """A rate from a measured or nominal value: near a broadcast rate it is that rate exactly.

        ``drop_frame`` defaults to True for 29.97 and 59.94 (the dialogue-list convention)."""
        value = Fraction(fps) if not isinstance(fps, float) else Fraction(fps).limit_denominator(100000)
        nearest = min(STANDARD_RATES, key=lambda r: abs(value - r))
        if abs(value - nearest) / nearest < Fraction(2, 1000):
            value = nearest
        else:
            value = value.limit_denominator(1001)
        timebase = round(value)
        default_df = value.denominator == 1001 and timebase in (30, 60)
        return cls(value, default_df if drop_frame is None else drop_frame)

    @property
    def timebase(self) -> int:
        """Frames per timecode second (the nominal integer rate)."""
        return round(self.fps)

    @property
    def separator(self) -> str:
        return ";" if self.drop_frame else ":"

    def __str__(self) -> str:
        name = f"{float(self.fps):.3f}".rstrip("0").rstrip(".")
        return f"{name} {'DF' if self.drop_frame else 'NDF'}"

    # -- frames and seconds ----------------------------------------------------------------------
    def frames_at(self, seconds: float) -> int:
        """The frame showing at ``seconds`` (0 = first frame), to the nearest frame boundary."""
        return round(Fraction(seconds).limit_denominator(10**9) * self.fps)

    def seconds_of(self, frames: int) -> float:
        return float(frames / self.fps)

    # -- timecode ----------------------------------------------------------------------------------
    @property
    def _dropped(self) -> int:
        return 2 * (self.timebase // 30) if self.drop_frame else 0

    def to_timecode(self, frames: int) -> str:
        """``HH:MM:SS:FF`` (``HH:MM:SS;FF`` drop-frame) of a frame count from zero."""
        if frames < 0:
            raise TimecodeError(f"negative frame count {frames}")
        tb, drop = self.timebase, self._dropped
        if drop:
            per_10min = tb * 600 - drop * 9
            per_min = tb * 60 - drop
            tens, rem = divmod(frames, per_10min)
            # The first minute of each ten keeps all its numbers; the others skip `drop` of them.
            extra = drop * 9 * tens + (drop * ((rem - drop) // per_min) if rem >= drop else 0)
            frames += extra
        ff = frames % tb
        total_s = frames // tb
        return f"{total_s // 3600:02d}:{total_s // 60 % 60:02d}:{total_s % 60:02d}{self.separator}{ff:02d}"

    def from_timecode(self, timecode: str) -> int:
        """The frame count of a timecode at this rate (either separator is read)."""
        m = _TC.match(timecode.strip())
        if not m:
            raise TimecodeError(f"not a timecode: {timecode!r} (HH:MM:SS:FF or HH:MM:SS;FF)")
        hh, mm, ss, _, ff = (int(g) if g.isdigit() else g for g in m.groups())
        tb, drop = self.timebase, self._dropped
        if mm >= 60 or ss >= 60 or ff >= tb:
            raise TimecodeError(f"timecode {timecode!r} out of range at {self}")
        if drop and ss == 0 and ff < drop and mm % 10:
            raise TimecodeError(f"timecode {timecode!r} does not exist in drop-frame (numbers skipped)")
        total_min = hh * 60 + mm
        frames = (total_min * 60 + ss) * tb + ff
        return frames - drop * (total_min - total_min // 10)

    def timecode_at(self, seconds: float) -> str:
        return self.to_timecode(self.frames_at(seconds))
