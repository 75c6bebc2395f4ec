"""On-screen text: detection, reading by script, tracking, frame-exact bounds and kinds, measured
on a rendered title (real photographs, Korean and English text in Debian fonts, H.264) with the
real models (PP-OCR from the rapidocr wheel, Tesseract kor+eng)."""

from __future__ import annotations

import numpy as np
import pytest
from ocr_truth import TruthLine, standard_title

from prism.ocr.base import Box, TextLine, edit_distance, script_of, similarity
from prism.ocr.events import EventOptions, Observation, Sample, classify, track_lines
from prism.ocr.tesseract import parse_tsv, tesseract_available
from prism.ocr.video import (
    OcrOptions,
    captured_samples,
    events_table,
    plan_samples,
    read_onscreen_text,
)
from prism.visual.captures import CaptureOptions, capture_index
from prism.visual.decode import read_scalars, run_pass

needs_tesseract = pytest.mark.skipif(not tesseract_available("kor+eng"),
                                     reason="tesseract-ocr-kor/-eng not installed (scripts/setup.sh)")


# -- pieces --------------------------------------------------------------------
def test_script_of_prefers_hangul_and_names_iso_codes():
    assert script_of("부산 BUSAN") == "Hang"
    assert script_of("Seoul Station") == "Latn"
    assert script_of("釜山") == "Hani"
    assert script_of("2024 - 10") == "Zyyy"


def test_similarity_ignores_spacing():
    assert similarity("촬영 이서연", "촬영이서연") == 1.0
    assert edit_distance("kitten", "sitting") == 3
    assert similarity("abc", "xyz") == 0.0


def test_tesseract_tsv_joins_syllables_split_by_tesseract():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [header,
            "5\t1\t1\t1\t1\t1\t10\t5\t20\t30\t90\t우",
            "5\t1\t1\t1\t1\t2\t32\t5\t60\t30\t80\t주에서",
            "5\t1\t1\t1\t1\t3\t110\t5\t80\t30\t70\t돌아온"]
    text, conf = parse_tsv("\n".join(rows))
    assert text == "우주에서 돌아온"
    assert conf == pytest.approx(0.8)


def _line(text: str, x: int, y: int, w: int = 200, h: int = 30) -> Observation:
    return Observation(TextLine(Box(x, y, w, h), text, script_of(text), 0.95), False)


def test_tracking_links_same_text_and_rolling_text_and_splits_changes():
    samples = [
        Sample(0, 0, [_line("Hello there", 100, 300), _line("Director Kim", 200, 250)]),
        Sample(25, 0, [_line("Hello there", 101, 301), _line("Director Kim", 200, 220)]),
        Sample(50, 0, [_line("Goodbye now", 100, 300), _line("Director Kim", 200, 190)]),
    ]
    tracks = track_lines(samples, EventOptions())
    texts = sorted((t.observations[0][1].line.text, len(t.observations)) for t in tracks)
    assert texts == [("Director Kim", 3), ("Goodbye now", 1), ("Hello there", 2)]


def test_kinds_by_position_background_and_dynamics():
    def kind(box, duration_s=3.0, rolling=False, plain=False):
        return classify(box, 1920, 1080, duration_s=duration_s, rolling=rolling, plain_background=plain)

    assert kind(Box(760, 950, 400, 70)) == "subtitle"
    assert kind(Box(760, 950, 400, 70), duration_s=30) != "subtitle"  # a line that stays is no dialogue
    assert kind(Box(760, 500, 400, 60), rolling=True, plain=True) == "credit"
    assert kind(Box(760, 500, 400, 60), plain=True) == "credit"
    assert kind(Box(560, 400, 800, 160)) == "title"
    assert kind(Box(100, 200, 300, 40)) == "sign"


# -- a rendered title, end to end --------------------------------------------------
@pytest.fixture(scope="module")
def ocr_models():
    from prism.ocr.rapid import RapidReader, text_detector
    from prism.ocr.readers import ScriptRoutedReader
    from prism.ocr.tesseract import TesseractReader

    return text_detector(), ScriptRoutedReader(RapidReader(), TesseractReader("kor+eng"))


def read_with_pass(title, shots, detector, reader, work, interval_s: float = 1.0):
    """The production path: the decode pass captures the samples, the OCR reads them and decodes
    only short windows of the title to refine boundaries."""
    samples = work / "text_samples.parquet"
    summary, _ = run_pass(str(title.path), work / "signals.parquet", work / "sprites",
                          capture=CaptureOptions(text_samples=samples, sample_interval_s=interval_s))
    times = np.arange(title.frame_count) / title.fps
    key_frames = read_scalars(work / "signals.parquet", ["key_frame"])["key_frame"]
    index = capture_index(samples)
    plan = plan_samples(index, shots, len(times))
    result = read_onscreen_text(lambda: str(title.path), times, shots, captured_samples(plan, samples),
                                detector=detector, reader=reader, key_frames=key_frames,
                                options=OcrOptions(interval_s=interval_s))
    return times, result


@pytest.fixture(scope="module")
def read_title(tmp_path_factory, ocr_models):
    work = tmp_path_factory.mktemp("ocr")
    title = standard_title(work / "title.mp4")
    shots = [{"shot_index": i, "start_frame": s.start_frame, "end_frame": s.end_frame}
             for i, s in enumerate(title.shots)]
    times, result = read_with_pass(title, shots, *ocr_models, work)
    print(f"\nOCR decoding: {result.decoded_frames} frames in {result.windows} refinement windows, "
          f"title {title.frame_count} frames ({result.decoded_frames / title.frame_count:.1%})")
    assert result.decoded_frames < title.frame_count  # never a second full decode
    return title, times, result


def _match(truth: TruthLine, events) -> object | None:
    overlapping = [e for e in events if e.start_frame < truth.end_frame and truth.start_frame < e.end_frame]
    best = max(overlapping, key=lambda e: similarity(e.line.text, truth.text), default=None)
    return best if best is not None and similarity(best.line.text, truth.text) >= 0.5 else None


def _cer(pairs) -> float:
    errors = sum(edit_distance("".join(t.text.split()), "".join(e.line.text.split())) for t, e in pairs)
    chars = sum(len("".join(t.text.split())) for t, _ in pairs)
    return errors / chars


CLEAN = ("clean", "sign", "credit")  # dark on a card, small signs, credits on black
BUSY = ("busy", "subtitle")  # outlined white text straight over the photographs


@needs_tesseract
def test_every_line_is_found_read_and_timed(read_title):
    title, _, result = read_title
    matched = {id(t): _match(t, result.events) for t in title.lines}
    recall = sum(m is not None for m in matched.values()) / len(title.lines)
    report = {"recall": round(recall, 3), "events": len(result.events), "samples": result.samples,
              "probes": result.probes, "detector_probes": result.detector_probes,
              "decoded_frames": result.decoded_frames, "frames": title.frame_count}
    for group, cats in (("clean", CLEAN), ("busy", BUSY)):
        for script in ("Hang", "Latn"):
            pairs = [(t, matched[id(t)]) for t in title.lines
                     if t.category in cats and t.script == script and matched[id(t)] is not None]
            report[f"cer_{group}_{script}"] = round(_cer(pairs), 4)
    print("\nOCR measured:", report)
    assert recall >= 0.95, report
    for script in ("Hang", "Latn"):
        assert report[f"cer_clean_{script}"] <= 0.05, report
        assert report[f"cer_busy_{script}"] <= 0.15, report


@needs_tesseract
def test_static_lines_start_and_end_within_one_frame(read_title):
    title, _, result = read_title
    off = []
    for truth in title.lines:
        if truth.roll_px_per_frame:
            continue
        event = _match(truth, result.events)
        assert event is not None, truth.text
        assert event.refined, truth.text
        off.append((truth.text, event.start_frame - truth.start_frame, event.end_frame - truth.end_frame))
    print("\nboundary offsets (frames):", off)
    assert all(abs(ds) <= 1 and abs(de) <= 1 for _, ds, de in off), off


@needs_tesseract
def test_no_events_in_text_free_footage(read_title):
    title, _, result = read_title
    for lo, hi in title.text_free:
        inside = [e for e in result.events if e.start_frame < hi and lo < e.end_frame]
        assert inside == [], [(e.line.text, e.start_frame, e.end_frame) for e in inside]


@needs_tesseract
def test_kinds_of_the_rendered_lines(read_title):
    title, _, result = read_title
    for truth in title.lines:
        event = _match(truth, result.events)
        if truth.category == "subtitle":
            assert event.kind == "subtitle", (truth.text, event.kind)
        elif truth.category == "credit":
            assert event.kind == "credit", (truth.text, event.kind)
        elif truth.category in ("clean", "sign"):
            assert event.kind == "sign", (truth.text, event.kind)


@needs_tesseract
def test_table_follows_the_contract(read_title):
    title, times, result = read_title
    table = events_table(result.events, times, result.width, result.height, duration_s=title.duration_s)
    rows = table.to_pylist()
    assert [r["event_index"] for r in rows] == list(range(len(rows)))
    for r in rows:
        assert 0 <= r["x"] <= 1 and 0 <= r["y"] <= 1 and 0 < r["w"] <= 1 and 0 < r["h"] <= 1
        assert 0 <= r["start_s"] < r["end_s"] <= title.duration_s + 1e-6
        assert r["kind"] in ("subtitle", "credit", "title", "sign")
        assert r["script"] in ("Hang", "Latn", "Hani", "Jpan", "Zyyy")
    busan = next(r for r in rows if "부산" in r["text"])
    assert busan["script"] == "Hang" and busan["shot_index"] == 0
    assert busan["start_s"] == pytest.approx(87 / 25)


# -- QC ---------------------------------------------------------------------------
def _text_row(start, end, kind="subtitle", x=0.3, y=0.8, w=0.4, h=0.08, text="어디 가?"):
    return {"start_s": start, "end_s": end, "kind": kind, "x": x, "y": y, "w": w, "h": h, "text": text}


def test_burned_in_subtitles_against_speech_time():
    from prism.ocr.qc import onscreen_text_findings
    from prism.qc.profile import get_profile, summarize

    speech = [{"start_s": 0.0, "end_s": 10.0, "kind": "speech"},
              {"start_s": 20.0, "end_s": 30.0, "kind": "speech"}]
    subs = [_text_row(1, 4), _text_row(21, 25)]  # 7 of 20 s of speech
    events = onscreen_text_findings(subs, speech, 60.0)
    burned = [e for e in events if e.check == "burned_in_subtitles"]
    assert len(burned) == 1 and burned[0].value == pytest.approx(0.35) and burned[0].severity == "warning"
    assert (burned[0].start_s, burned[0].end_s) == (1, 25)
    _, strict = summarize(events, get_profile("strict"), 60.0)
    assert strict.checks["burned_in_subtitles"] == {"error": 1}
    assert not [e for e in onscreen_text_findings(subs[:1], speech, 60.0) if e.check == "burned_in_subtitles"]
    signs = [_text_row(1, 20, kind="sign")]
    assert onscreen_text_findings(signs, speech, 60.0) == []


def test_text_outside_title_safe_is_info():
    from prism.ocr.qc import onscreen_text_findings

    rows = [_text_row(0, 5, kind="sign", x=0.01, y=0.4), _text_row(5, 9, kind="sign", x=0.4, y=0.4)]
    events = onscreen_text_findings(rows, [], 60.0)
    assert [(e.check, e.severity, e.start_s) for e in events] == [("text_outside_title_safe", "info", 0)]
    assert events[0].value == pytest.approx(0.04)
