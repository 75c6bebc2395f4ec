"""Visual QC detectors on generated titles with known black, frozen, boxed and flashing stretches."""

import numpy as np
import pytest

from prism.media.synth import Black, Scene, write_title
from prism.qc.events import events_table, read_events
from prism.visual.decode import read_scalars, run_pass
from prism.visual.qc import QC_SIGNAL_COLUMNS, VisualQcParams, flash_transitions, visual_qc_events

FPS = 25.0


def _qc(tmp_path, timeline, **kwargs):
    path = tmp_path / "title.mp4"
    truth = write_title(path, timeline, [], width=320, height=180, fps=FPS, **kwargs)
    summary, _ = run_pass(str(path), tmp_path / "s.parquet", tmp_path / "sprites",
                          rotation=kwargs.get("rotation", 0))
    sig = read_scalars(tmp_path / "s.parquet", QC_SIGNAL_COLUMNS)
    events = visual_qc_events(sig, summary.duration_s, summary.width, summary.height,
                              rotation=summary.rotation)
    return truth, events


@pytest.fixture(scope="module")
def problem_title_events(tmp_path_factory):
    timeline = [
        Scene(1, 2.0),
        Black(2.5),  # 2.0-4.5 s: a black gap inside the title
        Scene(2, 3.0, pan_px_per_s=0),  # 4.5-7.5 s: a frozen picture
        Scene(3, 2.0, flashes_s=(0.2, 0.36, 0.52, 0.68, 0.84)),  # 7.5-9.5: 5 flashes in 0.8 s
        Scene(4, 2.0, flashes_s=(1.0,)),  # 9.5-11.5: one camera flash at 10.5 s
    ]
    return _qc(tmp_path_factory.mktemp("qc"), timeline)


def _only(events, check):
    found = [e for e in events if e.check == check]
    assert found, f"no {check} event in {[e.check for e in events]}"
    return found


def test_black_gap_inside_the_title(problem_title_events):
    _, events = problem_title_events
    (black,) = _only(events, "black")
    assert black.start_s == pytest.approx(2.0, abs=0.05) and black.end_s == pytest.approx(4.5, abs=0.05)
    assert black.severity == "warning" and "inside the title" in black.message


def test_frozen_picture(problem_title_events):
    _, events = problem_title_events
    (freeze,) = _only(events, "freeze")
    assert freeze.start_s == pytest.approx(4.5, abs=0.05) and freeze.end_s == pytest.approx(7.5, abs=0.05)
    assert freeze.severity == "warning" and freeze.value == pytest.approx(3.0, abs=0.05)


def test_hazardous_flash_rate_and_single_flash(problem_title_events):
    _, events = problem_title_events
    (rate,) = _only(events, "flash_rate")
    assert rate.severity == "error" and rate.value > 3
    assert 7.5 <= rate.start_s <= 8.0 and 8.2 <= rate.end_s <= 8.6
    single = [e for e in _only(events, "flash") if e.start_s > 9.5]
    assert len(single) == 1 and single[0].start_s == pytest.approx(10.5, abs=0.05)
    assert single[0].severity == "info"


def test_clean_picture_has_no_findings(tmp_path):
    _, events = _qc(tmp_path, [Scene(1, 2.0), Scene(2, 2.0)])
    assert events == []


@pytest.mark.parametrize(("scene", "check", "aspect"), [
    (Scene(5, 3.0, letterbox=0.12), "letterbox", 320 / (180 * 0.76)),
    (Scene(6, 3.0, pillarbox=0.125), "pillarbox", 320 * 0.75 / 180),
    (Scene(7, 3.0, letterbox=0.1, pillarbox=0.1), "windowbox", (320 * 0.8) / (180 * 0.8)),
])
def test_black_bars(tmp_path, scene, check, aspect):
    _, events = _qc(tmp_path, [scene])
    (bars,) = _only(events, check)
    assert bars.value == pytest.approx(aspect, rel=0.04)
    assert bars.start_s == 0.0 and bars.end_s == pytest.approx(3.0)
    assert bars.severity == ("warning" if check == "windowbox" else "info")


def test_bars_are_reported_per_segment_when_the_aspect_ratio_switches(tmp_path):
    """A 16:9 title with a 2.39:1 film section and a 4:3 archive section inside it: one finding
    per boxed stretch, with its own times and aspect ratio, none for the full-frame parts."""
    scope = 0.5 * (1 - (320 / 2.39) / 180)  # bar share of the height that makes 2.39:1 in 16:9
    _, events = _qc(tmp_path, [
        Scene(1, 3.0),  # 0-3 s: full frame
        Scene(2, 4.0, letterbox=scope),  # 3-7 s: 2.39:1
        Black(0.5),  # 7-7.5 s: a black gap between the sections
        Scene(3, 3.0, pillarbox=0.125),  # 7.5-10.5 s: 4:3
        Scene(4, 2.5),  # 10.5-13 s: full frame again
    ])
    bars = [e for e in events if e.check in ("letterbox", "pillarbox", "windowbox")]
    assert [e.check for e in bars] == ["letterbox", "pillarbox"], events
    film, archive = bars
    assert film.value == pytest.approx(2.39, rel=0.04) and archive.value == pytest.approx(4 / 3, rel=0.04)
    assert film.start_s == pytest.approx(3.0, abs=0.05) and film.end_s == pytest.approx(7.5, abs=0.05)
    assert archive.start_s == pytest.approx(7.5, abs=0.05) and archive.end_s == pytest.approx(10.5, abs=0.05)
    assert "from 3.00s to 7.4" in film.message and "from 7.4" in archive.message


def test_bars_are_reported_as_displayed_on_rotated_titles(tmp_path):
    # Coded picture letterboxed; displayed rotated by 90 degrees it is pillarboxed.
    _, events = _qc(tmp_path, [Scene(5, 2.0, letterbox=0.12)], rotation=90)
    assert [e.check for e in events] == ["pillarbox"]


def test_events_round_trip_through_the_shared_schema(problem_title_events):
    _, events = problem_title_events
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(events_table(events), buf)
    assert sorted(read_events(buf.getvalue()), key=lambda e: (e.start_s, e.check)) == sorted(
        events, key=lambda e: (e.start_s, e.check))


def test_flash_transitions_need_a_dark_side_and_a_big_swing():
    p = VisualQcParams()
    bright = np.array([0.85, 0.99, 0.85, 0.99])  # swings high up only: no flash by the guideline
    assert flash_transitions(bright, p) == []
    small = np.array([0.3, 0.35, 0.3])
    assert flash_transitions(small, p) == []
    assert [t[2] for t in flash_transitions(np.array([0.2, 0.9, 0.9, 0.2]), p)] == [1, -1]
