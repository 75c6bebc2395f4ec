"""Subtitle style profiles: versioned data files inside the package (``profiles/<name>.toml``).

The profile holds every number the template is timed and laid out by, and records where the
numbers come from; ``PRISM_SUBTITLE_STYLE`` names the one a deployment uses.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Literal

DEFAULT_STYLE = "streamer-2024"


class ProfileError(ValueError):
    """An unknown or malformed style profile."""


@dataclass(frozen=True)
class LanguageRules:
    script: str
    max_chars_per_line: float
    reading_speed_cps: float
    width: Literal["characters", "halfwidth"]
    dialogue_dash: str
    no_break_after: frozenset[str]
    clause_openers: frozenset[str]
    break_after_endings: tuple[str, ...] = ()

    def text_width(self, text: str) -> float:
        """A line's length as the profile counts it (half-width characters 0.5 for CJK languages)."""
        if self.width == "characters":
            return float(len(text))
        return sum(1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.5 for c in text)


@dataclass(frozen=True)
class StyleProfile:
    name: str
    version: int
    description: str
    source: str
    max_lines: int
    prefer_one_line: bool
    min_duration_s: float
    max_duration_s: float
    min_gap_frames: int
    chain_gap_s: float
    out_extend_s: float
    in_cue_tolerance_frames: int
    snap_s: float
    out_gap_frames: int
    snap_transitions: tuple[str, ...]
    languages: dict[str, LanguageRules]

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def rules_for(self, language: str | None) -> LanguageRules:
        """The rules of a language (ISO 639-1 or -3 code, region ignored), else the default's."""
        lang = (language or "").lower().split("-")[0].split("_")[0]
        lang = {"kor": "ko", "eng": "en"}.get(lang, lang)
        return self.languages.get(lang, self.languages["default"])


def profile_names() -> list[str]:
    folder = resources.files("prism.subtitles") / "profiles"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name: str = DEFAULT_STYLE) -> StyleProfile:
    if name not in profile_names():
        raise ProfileError(f"unknown subtitle style {name!r} (PRISM_SUBTITLE_STYLE: one of "
                           f"{', '.join(profile_names())})")
    data = tomllib.loads((resources.files("prism.subtitles") / "profiles" / f"{name}.toml").read_text("utf-8"))
    try:
        layout, timing, shots = data["layout"], data["timing"], data["shot_changes"]
        languages = {
            key: LanguageRules(
                script=v["script"], max_chars_per_line=float(v["max_chars_per_line"]),
                reading_speed_cps=float(v["reading_speed_cps"]), width=v["width"],
                dialogue_dash=v.get("dialogue_dash", "-"),
                no_break_after=frozenset(w.lower() for w in v.get("no_break_after", [])),
                clause_openers=frozenset(w.lower() for w in v.get("clause_openers", [])),
                break_after_endings=tuple(v.get("break_after_endings", [])),
            ) for key, v in data["languages"].items()
        }
        if "default" not in languages:
            raise KeyError("languages.default")
        return StyleProfile(
            name=data["name"], version=int(data["version"]), description=data.get("description", ""),
            source=data["source"], max_lines=int(layout["max_lines"]),
            prefer_one_line=bool(layout.get("prefer_one_line", True)),
            min_duration_s=float(timing["min_duration_s"]), max_duration_s=float(timing["max_duration_s"]),
            min_gap_frames=int(timing["min_gap_frames"]), chain_gap_s=float(timing["chain_gap_s"]),
            out_extend_s=float(timing["out_extend_s"]),
            in_cue_tolerance_frames=int(timing.get("in_cue_tolerance_frames", 1)),
            snap_s=float(shots["snap_s"]), out_gap_frames=int(shots["out_gap_frames"]),
            snap_transitions=tuple(shots.get("transitions", ["cut"])), languages=languages,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"subtitle style {name!r} is malformed: {exc}") from None
