"""Hours of silence (issue 11, hostile media): an hour-long title whose audio is digital silence
but for a tone at each end is processed through the whole graph, QC reports the silence once per
stretch (not once per second), the speech side (speech, speakers, transcript, subtitles) is empty
but valid, and no model runs over the silence. The audio step's memory does not grow with the
length of the silence. The long low-resolution title with peak RSS measured over 1 and 3 hours
is benchmarks/long_title.py (docs/operations.md). Streaming a long title's Parquet keeps Arrow
memory flat."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from audio_signals import place, speech
from helpers import deliver, peak_traced_bytes

from prism.audio.decode import SPEECH_RATE, decode_tracks, read_speech_audio
from prism.audio.vad import WINDOW, detect_speech, speech_probabilities
from prism_assets.resources import build_resources
from prism_assets.runner import run_title

HOUR_S = 3600
TONE_S = 2.0


def silent_title(path: Path, seconds: int) -> Path:
    """64x36 colour bars at 1 fps, H.264; mono 16 kHz AAC: a tone, silence, a tone."""
    tone = f"sine=f={{f}}:d={TONE_S}:r=16000,volume=0.25"
    graph = (f"{tone.format(f=440)}[a];anullsrc=r=16000:cl=mono:d={seconds - 2 * TONE_S}[b];"
             f"{tone.format(f=660)}[c];[a][b][c]concat=n=3:v=0:a=1[out]")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"smptebars=s=64x36:r=1:d={seconds}", "-filter_complex", graph,
                    "-map", "0:v", "-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "250",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "32k", str(path)],
                   check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def hour_of_silence(tmp_path_factory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("the ffmpeg CLI is not installed (scripts/setup.sh installs it)")
    return silent_title(tmp_path_factory.mktemp("silence") / "hour_of_silence.mp4", HOUR_S)


@pytest.mark.timeout(600)
def test_an_hour_of_silence_is_processed_and_reported_once(instance, prism_home, hour_of_silence):
    deliver(prism_home, hour_of_silence, "silent-hour", audio_languages=["en"])
    # The report and everything it reads (all of QC, the speech side, subtitles, the dialogue list);
    # embeddings, vectors and the bundle add nothing length- or silence-specific.
    outcome = run_title("silent-hour", instance, settings=prism_home, assets=["report"])
    assert outcome.success, outcome.failures
    store = build_resources(prism_home)["storage"].store()

    track = store.read_json("silent-hour", "audio.json")["tracks"][0]
    assert track["duration_s"] == pytest.approx(HOUR_S, abs=0.1)
    # One run of exact zeros between the tones.
    [(start, end)] = track["digital_silence"]
    assert start == pytest.approx(TONE_S, abs=0.1) and end == pytest.approx(HOUR_S - TONE_S, abs=0.1)

    # The speech side is empty but whole: tables with their schema, no subtitle files.
    for name in ("speech.parquet", "speakers.parquet", "transcript.parquet", "subtitle_events.parquet"):
        table = store.read_table("silent-hour", name)
        assert table.num_rows == 0, name
        assert "start_s" in table.schema.names, name
    assert not [f for f in store.list_files("silent-hour")
                if f.endswith((".vtt", ".srt", ".ttml")) and not f.startswith("thumbnails")]
    transcript = store.read_json("silent-hour", "transcript.json")["tracks"][0]
    assert transcript["segments"] == 0 and transcript["language"] is None
    assert store.read_json("silent-hour", "speakers.json") is not None

    # QC: the silence is one finding (and one dropout: exact zeros inside the programme), no
    # finding per second; the loudness of what is there is reported once.
    findings = store.read_table("silent-hour", "qc.parquet").to_pylist()
    audio = [f for f in findings if f["check"] in ("silence", "dropout", "no_speech", "silent_track",
                                                  "loudness_integrated", "true_peak")]
    by_check: dict[str, list[dict]] = {}
    for f in audio:
        by_check.setdefault(f["check"], []).append(f)
    assert len(by_check["silence"]) == 1 and len(by_check["dropout"]) == 1, by_check
    assert len(by_check["no_speech"]) == 1
    assert "silent_track" not in by_check  # the tones are heard: the track is not silent
    [silence] = by_check["silence"]
    assert silence["start_s"] <= TONE_S + 1 and silence["end_s"] >= HOUR_S - TONE_S - 1
    assert len(findings) < 25, sorted({f["check"] for f in findings})
    loudness = store.read_json("silent-hour", "loudness.json")["tracks"][0]
    assert loudness["speech_s"] == 0 and loudness["dialog_lufs"] is None
    assert store.read_json("silent-hour", "qc_summary.json")["status"] in ("pass", "fail")
    assert store.exists("silent-hour", "report.html")


def test_vad_skips_digital_silence_and_still_finds_the_speech_around_it():
    from scipy.signal import resample_poly

    talk = resample_poly(speech("The ferry leaves at ten, so we should not be late.", -20), 1, 3)
    gap_s = 150
    talk_s = talk.size / SPEECH_RATE
    x = place(2 * talk_s + gap_s + 2, (0.5, talk), (0.5 + talk_s + gap_s, talk), rate=SPEECH_RATE)
    probs = speech_probabilities([x[i:i + 7777] for i in range(0, x.size, 7777)])
    window_s = WINDOW / SPEECH_RATE
    # After about a minute of zeros the network's output stays put: the model no longer runs,
    # and the rest of the silence gets that one (tiny) probability.
    inside = probs[int((talk_s + 80) / window_s):int((talk_s + gap_s - 5) / window_s)]
    assert inside.size and np.ptp(inside) == 0 and inside.max() < 0.01
    segments = detect_speech([x], x.size / SPEECH_RATE)
    assert any(s.start_s < 0.5 + talk_s and s.end_s > 1.0 for s in segments)
    second = 0.5 + talk_s + gap_s
    assert any(s.start_s < second + talk_s and s.end_s > second + 0.5 for s in segments)
    assert not any(talk_s + 5 < s.start_s < second - 5 for s in segments)


def test_audio_step_memory_does_not_grow_with_the_length_of_the_silence(tmp_path):
    """decode_tracks (meter + FLAC) and VAD over 4 and 16 minutes of silence at 16 kHz mono."""
    def run(minutes: int) -> int:
        src = tmp_path / f"silence_{minutes}.flac"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"anullsrc=r={SPEECH_RATE}:cl=mono", "-t", str(minutes * 60), "-c:a", "flac", str(src)],
                       check=True, capture_output=True)
        work = tmp_path / f"work_{minutes}"
        work.mkdir()

        def step() -> None:
            [track] = decode_tracks(str(src), work)
            probs = speech_probabilities(read_speech_audio(work / "track0.16k.flac"))
            assert probs.max() < 0.01 and track.digital_silence

        return peak_traced_bytes(step)

    short, long = run(4), run(16)
    # 12 more minutes: the meter's 100 ms energies and the VAD's 32 ms probabilities grow (~0.5 MB
    # together); a buffer of the samples would grow by 46 MB.
    assert long < short + 1_500_000, (short, long)


def test_streaming_the_frame_signals_keeps_arrow_memory_flat(tmp_path):
    """batches_from_parquet (the shot detector's input; prism.storage.iter_parquet) holds one batch
    of Arrow memory, whatever the length: with pyarrow's default pre-buffering it held every RGB
    proxy it had read (~4 kB a frame: ~280 MB on a 1-hour title)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prism.visual.shots import batches_from_parquet
    from prism.visual.signals import FRAME_BYTES, SIGNALS_SCHEMA

    rng = np.random.default_rng(5)
    columns = ["frame_index", "time_s", "luma_mean", "black_ratio", "rgb_48x27"]
    schema = pa.schema([SIGNALS_SCHEMA.field(c) for c in columns])

    def peak_while_streaming(frames: int) -> int:
        path = tmp_path / f"signals_{frames}.parquet"
        with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
            for start in range(0, frames, 1024):  # the decode pass's row groups
                index = np.arange(start, start + 1024)
                rgb = rng.integers(0, 255, (1024, FRAME_BYTES), dtype=np.uint8)  # incompressible
                writer.write_table(pa.table({
                    "frame_index": pa.array(index, pa.int32()), "time_s": index / 25.0,
                    "luma_mean": pa.array(np.full(1024, 0.5, np.float32)),
                    "black_ratio": pa.array(np.zeros(1024, np.float32)),
                    "rgb_48x27": pa.FixedSizeBinaryArray.from_buffers(
                        pa.binary(FRAME_BYTES), 1024, [None, pa.py_buffer(rgb.tobytes())])}, schema=schema))
        before, peak = pa.total_allocated_bytes(), 0
        for _ in batches_from_parquet(path):
            peak = max(peak, pa.total_allocated_bytes() - before)
        return peak

    short, long = peak_while_streaming(4096), peak_while_streaming(16384)
    assert long < short * 1.5 + 4_000_000, (short, long)  # pre-buffered: ~4x


def test_visual_qc_working_memory_does_not_grow_with_the_title():
    """Visual QC's working memory beyond its inputs stays small however long the title: the bar
    detector's running median once copied every window at once (4 x 25 floats a frame), +500 MB
    on a 3-hour title, which was the peak of that title's whole run."""
    from prism.visual.qc import QC_SIGNAL_COLUMNS, visual_qc_events

    def signals(hours: float) -> dict[str, np.ndarray]:
        n = int(hours * HOUR_S * 25)
        rng = np.random.default_rng(11)
        sig = {c: np.zeros(n, np.float32) for c in QC_SIGNAL_COLUMNS}
        sig["time_s"] = np.arange(n) / 25.0
        sig["luma_mean"] = (0.4 + 0.02 * rng.random(n)).astype(np.float32)
        sig["motion"] = (0.05 + 0.01 * rng.random(n)).astype(np.float32)
        sig["bar_top"][: n // 2] = 0.12  # letterboxed first half
        sig["bar_bottom"][: n // 2] = 0.12
        return sig

    def working(hours: float) -> int:
        sig = signals(hours)
        inputs = sum(a.nbytes for a in sig.values())
        events: list = []
        peak = peak_traced_bytes(lambda: events.extend(visual_qc_events(sig, hours * HOUR_S, 1920, 1080)))
        assert any(e.check == "letterbox" for e in events)
        return peak - inputs

    short, long = working(0.25), working(1.0)
    # Per-frame float64 copies of the inputs are allowed (about 100 bytes a frame); the old
    # sliding-window median held about 1.6 kB a frame.
    frames_added = 0.75 * HOUR_S * 25
    assert long - short < 200 * frames_added, (short, long)
