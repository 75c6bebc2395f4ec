"""Subtitle writers (WebVTT / SubRip) and audio QC rules."""

import math
import re

import pytest

from prism.audio.asr import TranscriptSegment, Word
from prism.audio.languages import normalize_language
from prism.audio.qc import LOUDNESS_SPECS, TrackFacts, audio_events
from prism.audio.subtitles import MAX_CUE_S, MAX_LINE, cues_of, to_srt, to_vtt

TIMING = re.compile(r"^(\d\d):(\d\d):(\d\d)([.,])(\d\d\d) --> (\d\d):(\d\d):(\d\d)([.,])(\d\d\d)$")


def seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def long_segment() -> TranscriptSegment:
    words = [Word(10 + i * 0.5, 10 + i * 0.5 + 0.4, f"word{i}") for i in range(40)]
    return TranscriptSegment(10.0, 30.0, " ".join(w.text for w in words), tuple(words))


def test_vtt_is_valid_and_escaped():
    segments = [TranscriptSegment(1.5, 3.25, "Tom & Jerry <live> --> now"),
                TranscriptSegment(3661.0, 3662.5, "An hour later.")]
    vtt = to_vtt(segments, "en")
    lines = vtt.splitlines()
    assert lines[0] == "WEBVTT" and lines[1] == "Language: en"
    cues = [line for line in lines if " --> " in line and TIMING.match(line)]
    assert cues == ["00:00:01.500 --> 00:00:03.250", "01:01:01.000 --> 01:01:02.500"]
    assert "Tom &amp; Jerry &lt;live&gt; --&gt; now" in vtt


def test_srt_numbering_and_comma_timestamps():
    srt = to_srt([TranscriptSegment(0.0, 1.0, "One."), TranscriptSegment(2.0, 3.0, "Two.")])
    blocks = srt.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["1", "2"]
    assert blocks[1].splitlines()[1] == "00:00:02,000 --> 00:00:03,000"


def test_long_segments_become_readable_cues_at_word_times():
    cues = cues_of([long_segment()])
    assert len(cues) > 3
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= MAX_LINE for line in lines)
        assert cue.end_s - cue.start_s <= MAX_CUE_S + 0.5
        assert 10.0 <= cue.start_s < cue.end_s <= 30.0
    assert [c.start_s for c in cues] == sorted(c.start_s for c in cues)
    assert all(a.end_s <= b.start_s for a, b in zip(cues, cues[1:], strict=False))
    assert " ".join(c.text.replace("\n", " ") for c in cues) == long_segment().text


def test_cues_never_overlap_even_when_segments_do():
    cues = cues_of([TranscriptSegment(0.0, 2.0, "First."), TranscriptSegment(1.5, 3.0, "Second.")])
    assert cues[0].end_s <= cues[1].start_s


@pytest.mark.parametrize(("tag", "code"), [("eng", "en"), ("kor", "ko"), ("ko", "ko"), ("pt-BR", "pt"),
                                           ("fre", "fr"), ("und", None), (None, None)])
def test_language_tags_normalize(tag, code):
    assert normalize_language(tag) == code


def facts(**overrides) -> TrackFacts:
    base = dict(track=0, duration_s=60.0, integrated_lufs=-24.0, true_peak_dbtp=-3.0, dialog_lufs=-25.0,
                speech_s=30.0, declared_language="eng", detected_language="en", detected_probability=0.95)
    return TrackFacts(**(base | overrides))


def test_a_compliant_track_has_no_findings():
    assert audio_events(60.0, [facts()], LOUDNESS_SPECS["atsc-a85"]) == []


def test_loudness_and_true_peak_against_the_spec():
    events = audio_events(60.0, [facts(integrated_lufs=-16.0, true_peak_dbtp=-0.5)], LOUDNESS_SPECS["atsc-a85"])
    assert {(e.check, e.severity, e.value) for e in events} == {
        ("loudness_integrated", "error", -16.0), ("true_peak", "error", -0.5)}
    # the same track is inside a streaming spec, apart from its true peak
    events = audio_events(60.0, [facts(integrated_lufs=-16.0, true_peak_dbtp=-0.5)],
                          LOUDNESS_SPECS["streaming-16"])
    assert [e.check for e in events] == ["true_peak"]


def test_no_audio_silent_track_silence_no_speech_and_language():
    (no_audio,) = audio_events(42.0, [], LOUDNESS_SPECS["ebu-r128"])
    assert (no_audio.check, no_audio.severity, no_audio.end_s) == ("no_audio", "error", 42.0)
    (silent,) = audio_events(60.0, [facts(integrated_lufs=-math.inf)], LOUDNESS_SPECS["atsc-a85"])
    assert silent.check == "silent_track"
    events = audio_events(60.0, [facts(silences=[(10.0, 25.0)], speech_s=0.0, detected_language="fr")],
                          LOUDNESS_SPECS["atsc-a85"])
    by_check = {e.check: e for e in events}
    assert set(by_check) == {"silence", "no_speech", "language_mismatch"}
    assert (by_check["silence"].start_s, by_check["silence"].end_s) == (10.0, 25.0)
    # a low-confidence identification is not a finding
    assert audio_events(60.0, [facts(detected_language="fr", detected_probability=0.3)],
                        LOUDNESS_SPECS["atsc-a85"]) == []
