"""Dropouts: digital silence (every sample exactly zero) of 1 s or more inside the programme is
a QC warning of its own, found in the one decode pass over the delivered audio."""

import math

import numpy as np

from prism.audio.decode import ZeroRuns, decode_tracks
from prism.audio.qc import LOUDNESS_SPECS, TrackFacts, audio_events
from prism.media.audio_synth import RATE, tone, write_audio


def _facts(track, dropouts, overlaps=()):
    return TrackFacts(track=0, duration_s=track, integrated_lufs=-24.0, true_peak_dbtp=-3.0, dialog_lufs=-24.0,
                      speech_s=5.0, declared_language=None, detected_language=None, detected_probability=None,
                      dropouts=dropouts, overlaps=overlaps)


def test_zero_runs_span_blocks_and_ignore_short_gaps():
    runs = ZeroRuns(rate=100, min_s=1.0)
    signal = np.ones(1000, np.float32)
    signal[100:350] = 0  # 2.5 s, cut by block edges below
    signal[500:550] = 0  # 0.5 s: too short
    signal[900:] = 0  # 1 s at the very end
    for i in range(0, 1000, 64):
        runs.add(np.stack([signal[i:i + 64], signal[i:i + 64]]))
    assert runs.finish() == [(1.0, 3.5), (9.0, 10.0)]
    # One channel alive is not digital silence.
    stereo = ZeroRuns(rate=100, min_s=1.0)
    stereo.add(np.stack([np.zeros(300), np.r_[np.zeros(150), np.ones(150)] * 1e-6]))
    assert stereo.finish() == [(0.0, 1.5)]


def test_a_four_second_dropout_mid_programme_is_found_in_the_decode_pass(tmp_path):
    programme = np.concatenate([np.zeros(RATE), tone(10, 440, -20), np.zeros(4 * RATE), tone(10, 440, -20),
                                np.zeros(2 * RATE)]).astype(np.float32)
    path = write_audio(tmp_path / "dropout.flac", np.stack([programme, programme]))
    (track,) = decode_tracks(str(path), tmp_path)
    assert len(track.digital_silence) == 3
    head, middle, tail = track.digital_silence
    assert head[0] == 0.0 and math.isclose(tail[1], track.duration_s, abs_tol=0.01)
    assert math.isclose(middle[0], 11.0, abs_tol=0.01) and math.isclose(middle[1], 15.0, abs_tol=0.01)

    events = audio_events(track.duration_s, [_facts(track.duration_s, track.digital_silence)],
                          LOUDNESS_SPECS["atsc-a85"])
    dropouts = [e for e in events if e.check == "dropout"]
    assert [(e.start_s, e.end_s, e.severity) for e in dropouts] == [(middle[0], middle[1], "warning")]
    assert "digital silence" in dropouts[0].message


def test_overlapping_speech_is_an_info_event():
    events = audio_events(60.0, [_facts(60.0, [], overlaps=[(10.0, 11.0), (10.5, 12.0), (30.0, 30.5)])],
                          LOUDNESS_SPECS["atsc-a85"])
    overlaps = [(e.start_s, e.end_s, e.severity) for e in events if e.check == "speaker_overlap"]
    assert overlaps == [(10.0, 12.0, "info"), (30.0, 30.5, "info")]
