"""The streaming BS.1770 meter against FFmpeg's ebur128 filter and pyloudnorm, on real files."""

import math
import re
import subprocess

import numpy as np
import pyloudnorm
import pytest
from audio_signals import RATE, music_bed, place, speech, tone, write_audio
from helpers import peak_traced_bytes

from prism.audio.decode import decode_tracks
from prism.audio.loudness import LoudnessMeter, channel_weights, to_db

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def ebur128(path) -> dict[str, float]:
    """FFmpeg's own EBU R128 measurement (integrated, LRA, true peak) of the first audio track."""
    proc = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-filter_complex",
                           "[0:a:0]ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True)
    summary = proc.stderr[proc.stderr.rindex("Summary:"):]
    number = r"(-?[\d.]+|-inf)"
    return {
        "integrated": float(re.search(rf"I:\s+{number} LUFS", summary).group(1)),
        "lra": float(re.search(rf"LRA:\s+{number} LU", summary).group(1)),
        "true_peak": float(re.search(rf"Peak:\s+{number} dBFS", summary).group(1)),
    }


@pytest.fixture(scope="session")
def signals(tmp_path_factory):
    d = tmp_path_factory.mktemp("loudness")
    words = "Loudness is measured over the whole programme, and dialogue is measured over speech."
    talk = speech(words)
    quarter_rate_sine = (0.5 * np.sin(2 * np.pi * (RATE / 4) * np.arange(RATE * 3) / RATE + np.pi / 4))
    files = {
        # speech with pauses, stereo
        "speech": write_audio(d / "speech.flac", np.stack([place(12, (1, talk), (7, talk))] * 2)),
        # full-scale 997 Hz tone (true peak ~0 dBTP)
        "full_scale_tone": write_audio(d / "tone.flac", np.stack([tone(6, 997, 0.0)] * 2)),
        # a quiet programme: soft music bed under soft speech, mono
        "quiet_programme": write_audio(d / "quiet.flac", place(14, (0, music_bed(14, -42)),
                                                                (3, speech(words, -30)))[None, :]),
        # inter-sample peaks: a tone at fs/4 phase-shifted so samples miss the crests (+3 dB true peak)
        "intersample": write_audio(d / "isp.flac", np.stack([quarter_rate_sine] * 2)),
        # 5.1: surrounds count +1.5 dB, LFE not at all
        "surround": write_audio(d / "surround.flac", np.stack([
            tone(5, 500, -20), tone(5, 500, -20), tone(5, 500, -20), tone(5, 60, -6),
            tone(5, 700, -26), tone(5, 700, -26)]), layout="5.1"),
    }
    return files


# (The fs/4 inter-sample signal is checked against its analytic true peak below: FFmpeg's
# resampler overshoots by ~0.6 dB that close to Nyquist.)
@pytest.mark.parametrize("name", ["speech", "full_scale_tone", "quiet_programme", "surround"])
def test_meter_agrees_with_ffmpeg_ebur128(signals, name, tmp_path):
    path = signals[name]
    (decoded,) = decode_tracks(str(path), tmp_path)
    meter = decoded.meter
    ref = ebur128(path)
    assert meter.integrated_lufs() == pytest.approx(ref["integrated"], abs=0.5)
    assert to_db(meter.true_peak_max) == pytest.approx(ref["true_peak"], abs=0.5)
    assert meter.loudness_range() == pytest.approx(ref["lra"], abs=1.0)


def test_true_peak_sees_between_samples(signals, tmp_path):
    (decoded,) = decode_tracks(str(signals["intersample"]), tmp_path)
    # sample peak 0.5·sin(45°) ≈ −9 dBFS, the waveform's crest −6 dBTP
    assert to_db(decoded.meter.sample_peak_max) == pytest.approx(-9.03, abs=0.1)
    assert to_db(decoded.meter.true_peak_max) == pytest.approx(-6.02, abs=0.3)


def test_meter_agrees_with_pyloudnorm_in_memory():
    rng = np.random.default_rng(1)
    x = np.stack([rng.standard_normal(RATE * 10) * 0.05, rng.standard_normal(RATE * 10) * 0.1])
    x[:, RATE * 4:RATE * 6] *= 0.01  # a quiet stretch the relative gate drops
    meter = LoudnessMeter(RATE, ["FL", "FR"])
    meter.add(x)
    expected = pyloudnorm.Meter(RATE).integrated_loudness(x.T)
    assert meter.finish().integrated_lufs() == pytest.approx(expected, abs=0.2)


def test_chunk_size_does_not_change_the_measurement():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, RATE * 7)) * 0.1
    whole = LoudnessMeter(RATE, ["FL", "FR"])
    whole.add(x)
    pieces = LoudnessMeter(RATE, ["FL", "FR"])
    pos = 0
    for n in rng.integers(1, 9000, size=10_000):
        pieces.add(x[:, pos:pos + n])
        pos += n
        if pos >= x.shape[1]:
            break
    a, b = whole.finish(), pieces.finish()
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-9)
    assert a.true_peak_max == pytest.approx(b.true_peak_max, rel=1e-9)
    assert a.integrated_lufs() == pytest.approx(b.integrated_lufs(), abs=1e-9)


def test_channel_weights_follow_bs1770():
    np.testing.assert_allclose(channel_weights(["FL", "FR", "FC", "LFE", "BL", "BR"]), [1, 1, 1, 0, 1.41, 1.41])


def test_dialogue_loudness_is_gated_over_speech_only():
    talk = speech("Only the dialogue counts for dialogue loudness.", -12)
    music = music_bed(20, -6)  # much louder than the speech, outside it
    x = place(20, (0, music[: RATE * 8]), (10, talk), (16, music[: RATE * 4]))
    meter = LoudnessMeter(RATE, ["FC"])
    meter.add(x[None, :])
    blocks = meter.finish()
    speech_only = LoudnessMeter(RATE, ["FC"])
    speech_only.add(place(20, (10, talk))[None, :])
    talk_s = talk.size / RATE
    dialog = blocks.gated_loudness_in([(10.0, 10.0 + talk_s)])
    assert dialog == pytest.approx(speech_only.finish().integrated_lufs(), abs=1.0)
    assert blocks.integrated_lufs() > dialog + 3  # the programme is louder than its dialogue
    assert math.isinf(blocks.gated_loudness_in([]))


def test_silences_are_found_where_the_programme_is_quiet():
    x = place(30, (0, tone(5, 440, -20)), (17, tone(13, 440, -20)))
    meter = LoudnessMeter(RATE, ["FC"])
    meter.add(x[None, :])
    found = meter.finish().quiet_stretches(threshold_lufs=-60, min_duration_s=8)
    assert len(found) == 1
    start, end = found[0]
    assert start == pytest.approx(5.0, abs=0.5) and end == pytest.approx(17.0, abs=0.5)


def test_meter_memory_does_not_grow_with_programme_length():
    rng = np.random.default_rng(3)
    chunk = rng.standard_normal((2, RATE // 2)) * 0.1  # half a second, fed over and over

    def measure(minutes: float) -> None:
        meter = LoudnessMeter(RATE, ["FL", "FR"])
        for _ in range(int(minutes * 120)):
            meter.add(chunk)
        meter.finish().integrated_lufs()

    short, long = peak_traced_bytes(lambda: measure(1)), peak_traced_bytes(lambda: measure(10))
    # ten times the programme: only the 100 ms energy list grows (~16 bytes per 100 ms)
    assert long < short + 400_000, (short, long)


class _AlwaysFiltering(LoudnessMeter):
    """The meter without its digital-silence shortcut: every sample through the filters."""

    def _settled(self) -> bool:
        return False


def test_digital_silence_measures_the_same_without_running_the_filters():
    # A tone, 20 s of exact zeros (the filters' state dies away first), a tone, zeros to the end;
    # fed in uneven chunks so the shortcut starts and stops mid-block.
    x = place(40, (0, tone(3, 440, -20)), (23, tone(4, 1000, -14)))
    x = np.stack([x, x * 0.5])
    fast, full = LoudnessMeter(RATE, ["FL", "FR"]), _AlwaysFiltering(RATE, ["FL", "FR"])
    pos = 0
    for n in np.random.default_rng(4).integers(100, 30_000, size=10_000):
        fast.add(x[:, pos:pos + n])
        full.add(x[:, pos:pos + n])
        pos += n
        if pos >= x.shape[1]:
            break
    a, b = fast.finish(), full.finish()
    assert a.samples == b.samples == x.shape[1]
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(a.true_peak, b.true_peak, rtol=1e-9, atol=1e-12)
    assert a.integrated_lufs() == pytest.approx(b.integrated_lufs(), abs=1e-9)
    assert a.quiet_stretches(-60, 5) == b.quiet_stretches(-60, 5)
    assert np.count_nonzero(a.energy == 0.0) > 300  # the shortcut took most of the silence
