"""The content-QC verdict end to end: a generated title with known defects, run through the whole
graph, gets the qc_summary.json its defects call for under the default (streaming) profile.

Known defects, from the generator's own timeline (not from any detector):
- 3 s of black inside the title (>= 2 s and < 10 s: a warning);
- 4 s of frozen picture (a still scene: >= 2 s and < 10 s: a warning); the other scenes pan
  clearly (60 px/s);
- the only audio is a full-scale tone at -1 dBFS: integrated loudness far above ATSC A/85's
  -24 LKFS +-2 and a true peak above -2 dBTP, both errors that fail a streaming title.
"""

import pytest
from helpers import deliver

from prism.media.synth import AudioTrack, Black, Scene, Tone, write_title
from prism.qc.events import read_events
from prism_assets.resources import build_resources
from prism_assets.runner import run_title


@pytest.fixture
def defective_title(tmp_path):
    path = tmp_path / "defects.mp4"
    still = Scene(2, 4.0, pan_px_per_s=0.0, detail=0.0)
    write_title(path, [Scene(1, 3.0, pan_px_per_s=60.0), Black(3.0), still, Scene(3, 3.0, pan_px_per_s=60.0)],
                [AudioTrack("eng", (Tone(0.0, 13.0, freq_hz=1000.0, level_dbfs=-1.0),))],
                width=320, height=180, fps=25.0)
    return path


def test_known_defects_give_the_expected_verdict(instance, prism_home, defective_title):
    deliver(prism_home, defective_title, "qc-verdict-1")
    outcome = run_title("qc-verdict-1", instance, settings=prism_home)
    assert outcome.success, outcome.failures
    store = build_resources(prism_home)["storage"].store()

    summary = store.read_json("qc-verdict-1", "qc_summary.json")
    assert summary["profile"] == "streaming"
    assert summary["status"] == "fail"
    assert sorted(summary["failing"]) == ["loudness_integrated", "true_peak"]
    assert summary["counts"]["error"] == 2

    events = read_events(store.read_bytes("qc-verdict-1", "qc.parquet"))
    by_check = {}
    for e in events:
        by_check.setdefault(e.check, []).append(e)
    (black,) = by_check["black"]
    assert black.severity == "warning"
    assert black.start_s == pytest.approx(3.0, abs=0.08) and black.end_s == pytest.approx(6.0, abs=0.08)
    (freeze,) = by_check["freeze"]
    assert freeze.severity == "warning"
    assert freeze.start_s == pytest.approx(6.0, abs=0.12) and freeze.end_s == pytest.approx(10.0, abs=0.12)
    assert summary["counts"]["warning"] == sum(e.severity == "warning" for e in events) >= 2
    (loud,) = by_check["loudness_integrated"]
    assert loud.track == 0 and loud.value > -22.0
    (peak,) = by_check["true_peak"]
    assert peak.track == 0 and peak.value > -2.0
