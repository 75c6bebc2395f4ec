"""Subtitle templates from word timings built here (no ASR): the independent checker of
``subtitle_rules.py`` runs on every template, plus timecode, TTML and dialogue-list formats."""

from __future__ import annotations

import io
import json
import logging
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest
from subtitle_rules import Spoken, parse_srt, violations

from prism.audio.asr import Word
from prism.subtitles import FrameClock, FrameRate, TimecodeError, build_template, load_profile
from prism.subtitles.dialogue import dialogue_rows, to_csv, to_json, to_xlsx
from prism.subtitles.layout import break_lines
from prism.subtitles.qc import READING_SPEED, subtitle_findings
from prism.subtitles.writers import IMSC11_TEXT, conformance_table, to_srt, to_ttml, to_vtt

RATES = {"23.976": Fraction(24000, 1001), "25": Fraction(25), "29.97": Fraction(30000, 1001)}
PROFILE = load_profile()


def say(text: str, start_s: float, speaker: str | None = "S1", per_char_s: float = 0.055,
        pause_s: float = 0.05, probability: float = 0.9) -> list[Spoken]:
    """Words spoken one after another from ``start_s`` (longer words take longer)."""
    out, t = [], start_s
    for word in text.split():
        d = 0.1 + per_char_s * len(word)
        out.append(Spoken(round(t, 3), round(t + d, 3), word, speaker))
        t += d + pause_s
    return out


def template_of(spoken: list[Spoken], fps: Fraction, cuts: list[int], language: str = "en",
                duration_s: float | None = None, probability: float = 0.9):
    rate = FrameRate.of(fps)
    end = duration_s or (max(w.end_s for w in spoken) + 3.0)
    clock = FrameClock.constant(rate, end)
    words = [Word(start_s=w.start_s, end_s=w.end_s, text=w.text, speaker=w.speaker, probability=probability)
             for w in spoken]
    return build_template(0, language, words, clock, cuts, PROFILE)


def checked(spoken: list[Spoken], fps: Fraction, cuts: list[int], language: str = "en"):
    """The template, the checker's findings on its SubRip file, and the generator's own verdict."""
    t = template_of(spoken, fps, cuts, language)
    found = violations(parse_srt(to_srt(t)), spoken, float(fps), cuts, language)
    return t, found


def assert_honest(template, found) -> None:
    """Whatever the checker finds, the template's conformance table lists as not fixed."""
    left = {(r.event, r.rule) for r in template.remaining}
    assert {(i, rule) for i, rule, _ in found} <= left, (found, template.remaining)


# -- timecode ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fps, drop", [(24000 / 1001, False), (24, False), (25, False), (30000 / 1001, True),
                                       (30, False), (50, False), (60000 / 1001, True)])
def test_timecode_round_trips(fps, drop):
    rate = FrameRate.of(fps)
    assert rate.drop_frame is drop
    hour = rate.timebase * 3600 - (rate.timebase // 30 * 2 * 54 if drop else 0)
    for n in [*range(0, 5000, 7), *range(hour - 50, hour + 50), 10 * hour + 12345]:
        tc = rate.to_timecode(n)
        assert rate.from_timecode(tc) == n
        assert (";" in tc) is drop
    assert rate.to_timecode(hour) == ("01:00:00;00" if drop else "01:00:00:00")
    # Seconds ↔ frames at the real rate: an hour of 23.976 is 86313.7 frames, not 86400.
    assert rate.frames_at(rate.seconds_of(hour)) == hour


def test_drop_frame_skips_numbers_and_refuses_the_missing_ones():
    df = FrameRate.of(29.97)
    assert df.to_timecode(1799) == "00:00:59;29" and df.to_timecode(1800) == "00:01:00;02"
    assert df.to_timecode(17982) == "00:10:00;00"  # every tenth minute keeps its numbers
    with pytest.raises(TimecodeError):
        df.from_timecode("00:01:00;00")
    assert FrameRate.of(59.94).to_timecode(3600) == "00:01:00;04"
    assert FrameRate.of(23.976).timecode_at(3600.0) == "00:59:56:10"  # counted at 24, runs slow
    with pytest.raises(TimecodeError):
        FrameRate.of(25).from_timecode("00:00:01:25")


def test_variable_frame_rate_uses_presentation_times():
    times = [0.0]
    for i in range(99):
        times.append(times[-1] + (0.02 if i % 2 else 0.06))
    clock = FrameClock.from_times(times, FrameRate.of(25))
    assert clock.frame_at(0.07) == 1 and clock.frame_at(0.0799) == 1 and clock.frame_at(0.08) == 2
    assert clock.frame_after(0.07) == 2 and clock.time_of(2) == pytest.approx(0.08)


# -- timing to speech and cuts ---------------------------------------------------------------------

SENTENCES = ["The harbour was quiet when the boats came back.", "I counted nine of them.",
             "Then the market will be busy before the rain.", "Nobody saw the lighthouse keeper leave.",
             "We should leave early tomorrow morning."]


@pytest.mark.parametrize("rate", list(RATES))
def test_cuts_one_to_fifteen_frames_from_speech_starts_and_ends(rate):
    fps = RATES[rate]
    spoken, cuts = [], []
    t = 1.0
    for where in ("before_start", "after_start", "before_end", "after_end"):
        for k in range(1, 16):
            words = say(SENTENCES[(k + len(where)) % len(SENTENCES)], t)
            start = int(words[0].start_s * fps)  # the frame showing at the start (exact: floor)
            end = int(words[-1].end_s * fps) + 1
            cuts.append({"before_start": start - k, "after_start": start + k, "before_end": end - k,
                         "after_end": end + k}[where])
            spoken += words
            t = words[-1].end_s + 2.0
    template, found = checked(spoken, fps, cuts)
    assert found == []
    assert template.remaining == []
    # Something had to move: in-cues onto cuts, out-cues off them.
    fixed = {r.rule for r in template.conformance if r.fixed}
    assert {"shot_in", "shot_out"} <= fixed


@pytest.mark.parametrize("rate", list(RATES))
def test_long_monologue(rate):
    fps = RATES[rate]
    text = " ".join(SENTENCES * 6).replace(".", ",", 7)
    spoken = say(text, 0.6)
    assert spoken[-1].end_s > 60
    template, found = checked(spoken, fps, cuts=[int(17.3 * fps), int(31.05 * fps), int(44.8 * fps)])
    assert found == []
    assert len(template.events) >= 15
    assert all(len(e.lines) <= 2 for e in template.events)
    assert all(e.speakers == ("S1",) for e in template.events)


def test_fast_speech_is_reported_not_hidden():
    spoken = say("Listen carefully because I will only explain this extraordinary procedure once, "
                 "understand? Absolutely everything depends on it.", 1.0, per_char_s=0.012, pause_s=0.0)
    spoken += say("Okay.", spoken[-1].end_s + 0.3, speaker="S2")
    template, found = checked(spoken, RATES["25"], cuts=[])
    assert {rule for _, rule, _ in found} == {"reading_speed"}
    assert_honest(template, found)
    warnings = subtitle_findings([template])
    assert warnings and {w.check for w in warnings} == {READING_SPEED}
    assert all(w.severity == "warning" and w.value > 17 for w in warnings)


@pytest.mark.parametrize("rate", list(RATES))
def test_two_speakers_in_quick_exchange(rate):
    fps = RATES[rate]
    spoken, t = [], 1.0
    for i, line in enumerate(["Ready?", "Almost.", "Now?", "Yes, go.", "Where?", "Left!", "Got it.", "Run!"]):
        words = say(line, t, speaker="S1" if i % 2 == 0 else "S2")
        spoken += words
        t = words[-1].end_s + 0.25
    spoken += say("That was far too close for comfort, and you know it.", t + 1.5, speaker="S1")
    template, found = checked(spoken, fps, cuts=[int(2.2 * fps)])
    assert found == []
    dashed = [e for e in template.events if e.dialogue]
    assert dashed, [e.lines for e in template.events]
    for e in dashed:
        assert len(e.lines) == 2 and all(line.startswith("-") for line in e.lines)
        assert e.speakers[0] != e.speakers[1]


def test_korean_lines_count_half_width_characters():
    text = ("오늘 밤에는 비가 많이 온다고 했어요. 그래서 우리는 일찍 출발해야 해요. 그 사람이 "
            "창고 열쇠를 가지고 있으니까 같이 가야 합니다. 알겠어요, 정오에 떠나요.")
    spoken = say(text, 0.8, per_char_s=0.16)
    for rate in RATES.values():
        template, found = checked(spoken, rate, cuts=[int(6.1 * rate)], language="ko")
        assert found == []
        rules = PROFILE.rules_for("ko")
        assert all(rules.text_width(line) <= 16 for e in template.events for line in e.lines)
    assert PROFILE.rules_for("ko").text_width("가나 AB") == 3.5


def test_line_breaks_never_after_an_article_or_preposition():
    rules = PROFILE.rules_for("en")
    lines = break_lines("I walked all the way to the old market with my brother and our dog".split(), rules)
    assert len(lines) == 2 and all(len(x) <= 42 for x in lines)
    assert lines[0].split()[-1].lower() not in rules.no_break_after
    lines = break_lines("When the rain stopped, we walked down to the harbour together".split(), rules)
    assert lines[0].endswith("stopped,")
    assert break_lines("Short enough for one line.".split(), rules) == ["Short enough for one line."]


# -- outputs -----------------------------------------------------------------------------------------

def _exchange_template():
    spoken = say("Where were you last night?", 1.0, "S1") + say("At the harbour, with Min-jun.", 3.2, "S2")
    spoken += say("♪ The boats come home ♪", 7.0, "S2") + say("사랑해요", 10.0, "S1")
    words = [Word(start_s=w.start_s, end_s=w.end_s, text=w.text, speaker=w.speaker,
                  probability=0.2 if w.text == "Min-jun." else 0.9)
             for w in spoken]
    clock = FrameClock.constant(FrameRate.of(30000 / 1001), 14.0)
    return build_template(0, "en", words, clock, [int(3.0 * 30000 / 1001)], PROFILE)


def test_ttml_is_imsc_1_1_text_and_reads_in_ttconv(caplog):
    from ttconv.imsc import reader

    template = _exchange_template()
    ttml = to_ttml(template, title="The Harbour & Co")
    root = ET.fromstring(ttml)
    ns = {"tt": "http://www.w3.org/ns/ttml", "ttp": "http://www.w3.org/ns/ttml#parameter"}
    assert root.tag == "{http://www.w3.org/ns/ttml}tt"
    assert root.get(f"{{{ns['ttp']}}}contentProfiles") == IMSC11_TEXT
    assert root.get(f"{{{ns['ttp']}}}frameRate") == "30"
    assert root.get(f"{{{ns['ttp']}}}frameRateMultiplier") == "1000 1001"
    caplog.set_level(logging.WARNING, logger="ttconv")
    doc = reader.to_model(ET.ElementTree(root))  # the IMSC reference implementers' reader
    # ttconv logs (does not raise) what it finds wrong: a bad time, colour or region reference.
    assert not [r for r in caplog.records if r.name.startswith("ttconv")], caplog.text
    ps = [el for el in doc.get_body().dfs_iterator() if type(el).__name__ == "P"]
    assert len(ps) == len(template.events)
    for p, e in zip(ps, template.events, strict=True):
        assert float(p.get_begin()) == pytest.approx(e.start_s, abs=5e-4)
        assert float(p.get_end()) == pytest.approx(e.end_s, abs=5e-4)
    vtt = to_vtt(template)
    assert vtt.startswith("WEBVTT") and "<v S1>" in vtt


def test_dialogue_list_csv_and_xlsx_match_the_json(tmp_path):
    import openpyxl
    import pandas as pd

    template = _exchange_template()
    rate = FrameRate.of(30000 / 1001)
    onscreen = [{"start_s": 0.5, "end_s": 2.0, "text": "PORT OF BUSAN", "kind": "sign"},
                {"start_s": 3.0, "end_s": 5.0, "text": "At the harbour", "kind": "subtitle"}]
    second = (1, "ko", template.events[:1])
    rows = dialogue_rows([(0, "en", template.events), second], rate, onscreen)
    data = json.loads(to_json(rows, title_id="harbour", rate=rate, style=PROFILE.label))
    assert data["drop_frame"] is True and data["timecode"] == "29.97 DF"
    assert all(";" in r["in_tc"] for r in data["rows"])
    by_event = {(r["track"], r["event"]): r for r in data["rows"]}
    first = by_event[(0, 1)]
    assert first["speaker"] == "S1" and "PORT OF BUSAN [sign]" in first["onscreen_text"]
    assert any("inaudible: Min-jun" in r["annotations"] for r in data["rows"])
    assert any("music" in r["annotations"] for r in data["rows"])
    assert any("language: ko" in r["annotations"] for r in data["rows"])

    (tmp_path / "d.csv").write_bytes(to_csv(rows))
    csv = pd.read_csv(tmp_path / "d.csv", encoding="utf-8-sig", keep_default_na=False)
    want = pd.DataFrame(data["rows"], columns=data["columns"])
    pd.testing.assert_frame_equal(csv, want, check_dtype=False)

    xlsx = to_xlsx(rows, [(0, "en"), (1, "ko")])
    import zipfile  # no clock inside: a re-run reproduces the file byte for byte
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(xlsx)).infolist()} == {(1980, 1, 1, 0, 0, 0)}
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert book.properties.modified.year == 2000
    assert book.sheetnames == ["Track 1 (en)", "Track 2 (ko)"]
    for sheet, track in zip(book.worksheets, (0, 1), strict=True):
        assert sheet.freeze_panes == "A2"
        values = list(sheet.iter_rows(values_only=True))
        assert values[0][:4] == ("Track", "Event", "In-TC", "Out-TC")
        got = [["" if v is None else v for v in row] for row in values[1:]]
        assert got == [list(r.values()) for r in data["rows"] if r["track"] == track]


def test_conformance_table_columns():
    table = conformance_table([template_of(say("Go now, quickly, before they come.", 1.0), RATES["25"],
                                           cuts=[27])])
    assert table.column_names[:7] == ["track", "language", "event", "rule", "value", "limit", "fixed"]
    assert table.to_pylist() and all(r["fixed"] for r in table.to_pylist())


@pytest.mark.parametrize("seed", range(12))
def test_random_dialogue_the_template_reports_every_violation_it_leaves(seed):
    """Random speakers, speeds, pauses and cuts: whatever the checker finds the conformance table
    lists as not fixed, and most events break no rule."""
    import random

    r = random.Random(seed)
    vocabulary = ("the harbour was quiet when boats came back I counted nine of them all full fish then "
                  "market will be busy before rain nobody saw lighthouse keeper leave we should early").split()
    fps = list(RATES.values())[seed % 3]
    spoken, t = [], r.uniform(0.3, 2)
    for _ in range(r.randint(8, 20)):
        text = " ".join(r.choice(vocabulary) for _ in range(r.randint(1, 16))) + r.choice([".", "?", ",", ""])
        words = say(text, t, speaker=r.choice(["S1", "S2", "S3"]), per_char_s=r.uniform(0.03, 0.09),
                    pause_s=r.uniform(0.0, 0.15))
        spoken += words
        t = words[-1].end_s + r.choice([0.05, 0.2, 0.4, 0.8, 1.5, 3.0])
    cuts = sorted({int(r.uniform(0, t) * fps) for _ in range(int(t / 2.5))})
    template, found = checked(spoken, fps, cuts)
    assert_honest(template, found)
    assert 1 - len({i for i, _, _ in found}) / len(template.events) >= 0.7


def test_report_shows_the_template_beside_the_transcript_and_the_dialogue_list():
    from prism.qc.profile import get_profile, summarize
    from prism.qc.timeline import render_timeline
    from prism.report import ReportInputs, render_report
    from prism.subtitles.artifacts import events_table

    template = _exchange_template()
    rate = FrameRate.of(30000 / 1001)
    rows = dialogue_rows([(0, "en", template.events)], rate)
    graded, summary = summarize([], get_profile("streaming"), 14.0)
    html = render_report(ReportInputs(
        title_id="EP1", summary=summary, events=graded, timeline_png=render_timeline(14.0, graded),
        transcript=[{"track": 0, "segment_index": 0, "start_s": 1.0, "end_s": 2.0, "language": "en",
                     "text": "Where were you last night?"}],
        subtitles={"style": "streamer-2024", "style_version": 1, "timecode": "29.97 DF", "cuts": 1,
                   "tracks": [{"track": 0, "language": "en", "events": len(template.events),
                               "conformance_rate": template.conformance_rate, "fixed": 1, "violations_left": 0,
                               "files": ["subtitles.en.vtt"]}]},
        subtitle_events=events_table([template]).to_pylist(),
        dialogue_list=json.loads(to_json(rows, title_id="EP1", rate=rate, style="streamer-2024")),
    ))
    assert "Raw transcript (Whisper)" in html and "Subtitle template (subtitles.en.vtt)" in html
    assert "Dialogue list" in html and rows[0].in_tc in html and "-사랑해요" in html


def test_variable_frame_rate_events_sit_on_real_frame_times():
    times = [0.0]
    for i in range(1199):  # 25 fps nominal, frames alternately 20 ms and 60 ms long
        times.append(round(times[-1] + (0.02 if i % 2 else 0.06), 6))
    clock = FrameClock.from_times(times, FrameRate.of(25))
    spoken = say(" ".join(SENTENCES), 1.03)
    words = [Word(start_s=w.start_s, end_s=w.end_s, text=w.text, speaker=w.speaker, probability=0.9)
             for w in spoken]
    cut = clock.frame_at(spoken[0].start_s) + 3
    template = build_template(0, "en", words, clock, [cut], PROFILE)
    assert template.events[0].in_frame == cut  # snapped onto the cut, counted in real frames
    for e in template.events:
        assert e.start_s == pytest.approx(times[e.in_frame], abs=1e-3)
        assert e.end_s == pytest.approx(times[e.out_frame], abs=1e-3)
