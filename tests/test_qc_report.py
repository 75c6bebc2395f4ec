"""QC profiles, the timeline picture and report.html, on findings whose answer is known."""

import io
from html.parser import HTMLParser

import pyarrow.parquet as pq
import pytest
from dagster import build_asset_context
from PIL import Image

from prism.qc import QcEvent, Severity
from prism.qc.events import events_table
from prism.qc.profile import PROFILES, get_profile, summarize
from prism.qc.timeline import (
    LABEL_W,
    LANE_H,
    MARGIN,
    SEVERITY_COLOURS,
    TRACK_COLOURS,
    LoudnessCurve,
    plot_x,
    render_timeline,
)
from prism.report import ReportInputs, render_report
from prism.settings import Settings
from prism_assets.assets.qc import qc
from prism_assets.resources import build_resources
from resources import ArtifactStorage, QcPolicy


def ev(check, start, end, severity, track=None, value=None, message="m"):
    return QcEvent(check=check, track=track, start_s=start, end_s=end, severity=severity, value=value,
                   message=message)


FINDINGS = [
    ev("black", 10, 12, "warning"),
    ev("black", 11, 15, "warning"),
    ev("loudness_integrated", 0, 60, "warning", track=0, value=-16.0),
    ev("silence", 30, 40, "info", track=1),
]


def test_streaming_profile_passes_warnings_strict_fails_them():
    graded, summary = summarize(FINDINGS, get_profile("streaming"), 60.0)
    assert summary.status == "pass" and summary.failing == []
    assert summary.counts == {"info": 1, "warning": 3, "error": 0}
    assert summary.flagged_s["black"] == pytest.approx(5.0)  # union of 10–12 and 11–15
    _, strict = summarize(FINDINGS, get_profile("strict"), 60.0)
    assert strict.status == "fail" and strict.failing == ["black", "loudness_integrated"]


def test_broadcast_profile_regrades_loudness_to_error():
    graded, summary = summarize(FINDINGS, get_profile("broadcast"), 60.0)
    assert summary.status == "fail" and summary.failing == ["loudness_integrated"]
    assert [e.severity for e in graded if e.check == "loudness_integrated"] == [Severity.error]
    with pytest.raises(ValueError, match="unknown QC profile"):
        get_profile("nope")
    assert set(PROFILES) >= {"streaming", "broadcast", "strict"}


def test_timeline_draws_each_finding_where_it_happens():
    duration = 100.0
    png = render_timeline(duration, [ev("freeze", 40, 60, "error")], shot_starts_s=[0, 50],
                          loudness=[LoudnessCurve(0, [0, 50, 100], [-23, -20, -23])], loudness_target_lufs=-23)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.format is None and img.width == 1600
    red = SEVERITY_COLOURS[Severity.error]
    lanes_bottom = MARGIN + 20 + 3 * LANE_H  # title, shots lane, the one finding lane (the legend is lower)
    xs = [x for x in range(img.width) for y in range(0, lanes_bottom, 2) if img.getpixel((x, y)) == red]
    assert xs, "the error finding is drawn"
    # The red bar spans 40–60 s of the 100 s plot (±2 px).
    assert min(xs) == pytest.approx(plot_x(40, duration, img.width), abs=2)
    assert max(xs) == pytest.approx(plot_x(60, duration, img.width), abs=2)
    assert min(xs) > LABEL_W  # right of the lane labels


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_report_shows_verdict_findings_and_escapes_untrusted_text():
    graded, summary = summarize(FINDINGS, get_profile("broadcast"), 60.0)
    html = render_report(ReportInputs(
        title_id="EP1", summary=summary, events=graded, timeline_png=render_timeline(60, graded),
        delivery={"manifest": {"title_name": "<script>alert(1)</script>", "series": "S"}},
        probe={"duration_s": 60.0, "container": "mov", "audio": []},
        shots=[{"shot_index": 0, "start_s": 0, "end_s": 20, "transition": "start"},
               {"shot_index": 1, "start_s": 20, "end_s": 60, "transition": "cut"}],
        keyframes=[{"shot_index": 0, "time_s": 3.0, "path": "keyframes/0000.jpg"}],
        loudness=[{"track": 0, "language": "en", "integrated_lufs": -16.0, "lra_lu": 4.0,
                   "true_peak_dbtp": -1.0, "dialog_lufs": None}],
        transcript=[{"track": 0, "segment_index": 0, "start_s": 1.0, "end_s": 2.0, "text": "Hello & bye",
                     "language": "en"}],
        images={"contact sheet": "contact_sheet.jpg"}, artifacts=[("shots.parquet", 1234)],
    ))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    page = _Collect()
    page.feed(html)
    text = " ".join(page.text)
    assert "QC FAIL" in text and "loudness_integrated" in text and "Hello & bye" in text
    assert "2 shots" in text and "median 30.00 s" in text and "1 cuts" in text
    assert page.imgs[0].startswith("data:image/png;base64,")
    assert "contact_sheet.jpg" in page.imgs and "keyframes/0000.jpg" in page.imgs


def test_loudness_line_breaks_at_silent_blocks_instead_of_bridging_them():
    curve = LoudnessCurve(0, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
                          [-20, -20, -20, float("nan"), None, float("nan"), -20, -20, -20, -20, -20])
    img = Image.open(io.BytesIO(render_timeline(100.0, [], loudness=[curve]))).convert("RGB")
    blue = TRACK_COLOURS[0]

    def drawn_at(t):
        x = round(plot_x(t, 100.0, img.width))
        return any(img.getpixel((x, y)) == blue for y in range(img.height))

    assert drawn_at(10) and drawn_at(80)
    assert not drawn_at(40)  # the silent stretch stays empty


def test_speakers_lane_and_table():
    from prism.qc.timeline import SpeakerTurn, speaker_colour

    turns = [SpeakerTurn(0, 0.0, 20.0, "S1"), SpeakerTurn(0, 40.0, 60.0, "S2")]
    img = Image.open(io.BytesIO(render_timeline(100.0, [], speakers=turns))).convert("RGB")
    def colours_at(t):
        x = round(plot_x(t, 100.0, img.width))
        return {img.getpixel((x, y)) for y in range(img.height)}

    assert speaker_colour("S1") in colours_at(10) and speaker_colour("S2") in colours_at(50)
    assert speaker_colour("S2") not in colours_at(10) and speaker_colour("S1") not in colours_at(30)

    _, summary = summarize([], get_profile("broadcast"), 100.0)
    speakers = {"tracks": [
        {"track": 0, "overlap_s": 0.0, "note": None, "speakers": [
            {"speaker": "S1", "speaking_s": 20.0, "turns": 1, "first_s": 0.0, "overlap_s": 0.0,
             "f0_median_hz": 118.0, "f0_range_hz": [98.0, 140.0], "words": 50, "words_per_s": 2.5,
             "series_voice": "V-0123456789", "series_similarity": 0.91}]},
        {"track": 1, "overlap_s": 0.0, "note": "no speech, no speakers", "speakers": []}]}
    html = render_report(ReportInputs(
        title_id="EP1", summary=summary, events=[], timeline_png=b"", speakers=speakers,
        transcript=[{"track": 0, "segment_index": 0, "start_s": 1.0, "end_s": 2.0, "text": "Hi.",
                     "language": "en", "speaker": "S1"}]))
    page = _Collect()
    page.feed(html)
    text = " ".join(page.text)
    assert "Speakers" in text and "118 Hz (98–140)" in text and "V-0123456789" in text and "2.5" in text
    assert "no speech, no speakers" in text and "Hi." in text


def test_qc_asset_grades_with_the_profile_of_its_qc_policy_resource(tmp_path):
    """The profile reaches the qc asset through its resource (built from PRISM_QC_PROFILE), so the
    same findings pass under `streaming` and fail under `broadcast`."""
    storage = ArtifactStorage(root=str(tmp_path / "artifacts"))
    store = storage.store()
    for name, events in (("qc_visual.parquet", FINDINGS[:2]), ("qc_audio.parquet", FINDINGS[2:])):
        buf = io.BytesIO()
        pq.write_table(events_table(events), buf)
        store.write_bytes("t1", name, buf.getvalue())
    store.write_json("t1", "probe.json", {"duration_s": 60.0})

    verdicts = {}
    for profile in ("streaming", "broadcast"):
        result = qc(build_asset_context(partition_key="t1"), storage=storage,
                    qc_policy=QcPolicy(profile=profile))
        verdicts[profile] = (result.metadata["status"], result.metadata["profile"],
                             store.read_json("t1", "qc_summary.json")["profile"])
    assert verdicts == {"streaming": ("pass", "streaming", "streaming"),
                        "broadcast": ("fail", "broadcast", "broadcast")}
    built = build_resources(Settings(home=tmp_path, qc_profile="strict", qc_burned_in_share=0.5))["qc_policy"]
    assert (built.profile, built.burned_in_share) == ("strict", 0.5)
