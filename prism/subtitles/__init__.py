"""Subtitle templates and the dialogue list (Dagster-free).

``template`` cuts a track's words into events and times them under a style profile
(``profiles/*.toml``); ``conformance`` checks the profile's rules; ``writers`` writes WebVTT,
SubRip, IMSC 1.1 TTML and the conformance table; ``dialogue`` builds the dialogue list;
``timecode`` converts SMPTE timecode (drop-frame included); ``clock`` maps seconds to the title's
real frames. See docs/subtitles.md.
"""

from prism.subtitles.clock import FrameClock
from prism.subtitles.profile import DEFAULT_STYLE, ProfileError, StyleProfile, load_profile, profile_names
from prism.subtitles.template import SubtitleEvent, SubtitleTemplate, build_template
from prism.subtitles.timecode import FrameRate, TimecodeError

__all__ = [
    "DEFAULT_STYLE", "FrameClock", "FrameRate", "ProfileError", "StyleProfile", "SubtitleEvent",
    "SubtitleTemplate", "TimecodeError", "build_template", "load_profile", "profile_names",
]
