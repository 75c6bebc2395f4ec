"""Audio QC findings as shared ``QcEvent`` rows (qc_audio.parquet).

Checks: a title without audio; integrated loudness and true peak against a
delivery spec (a setting); long silences inside a track; dropouts (digital
silence, every sample exactly zero, for 1 s or more inside the programme: a
broken edit or a lost packet run, not a quiet scene); tracks with no speech;
overlapping speakers (info: where dubbing needs care); the language Whisper
hears vs the one the delivery declares (manifest ``audio_languages`` by track,
else the stream's language tag).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prism.audio.languages import normalize_language
from prism.qc.events import QcEvent, Severity


@dataclass(frozen=True)
class LoudnessSpec:
    name: str
    target_lufs: float
    tolerance_lu: float
    max_true_peak_dbtp: float


LOUDNESS_SPECS: dict[str, LoudnessSpec] = {
    # ATSC A/85 (US broadcast / most streaming delivery specs): −24 LKFS ±2, TP ≤ −2 dBTP
    "atsc-a85": LoudnessSpec("atsc-a85", -24.0, 2.0, -2.0),
    # EBU R128: −23 LUFS ±0.5 LU (programmes), TP ≤ −1 dBTP
    "ebu-r128": LoudnessSpec("ebu-r128", -23.0, 0.5, -1.0),
    # EBU R128 s1 for streaming: −16 LUFS ±1, TP ≤ −1 dBTP
    "streaming-16": LoudnessSpec("streaming-16", -16.0, 1.0, -1.0),
}

@dataclass(frozen=True)
class TrackFacts:
    track: int
    duration_s: float
    integrated_lufs: float
    true_peak_dbtp: float
    dialog_lufs: float
    speech_s: float
    declared_language: str | None
    detected_language: str | None
    detected_probability: float | None
    silences: Sequence[tuple[float, float]] = ()
    dropouts: Sequence[tuple[float, float]] = ()  # runs of exact zeros >= 1 s (audio.json)
    overlaps: Sequence[tuple[float, float]] = ()  # overlapped speech (speakers.parquet)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 2)


def audio_events(duration_s: float, tracks: Sequence[TrackFacts], spec: LoudnessSpec,
                 language_min_probability: float = 0.5) -> list[QcEvent]:
    end = max(duration_s, 0.0)
    if not tracks:
        return [QcEvent(check="no_audio", start_s=0.0, end_s=end, severity=Severity.error,
                        message="the title has no audio track")]
    events: list[QcEvent] = []
    for t in tracks:
        span = {"track": t.track, "start_s": 0.0, "end_s": max(t.duration_s, 0.0)}
        if not math.isfinite(t.integrated_lufs):
            events.append(QcEvent(check="silent_track", severity=Severity.error, **span,
                                  message=f"track {t.track} is silent (no block above −70 LUFS)"))
            continue
        deviation = t.integrated_lufs - spec.target_lufs
        if abs(deviation) > spec.tolerance_lu:
            events.append(QcEvent(
                check="loudness_integrated", severity=Severity.error, value=_num(t.integrated_lufs), **span,
                message=f"track {t.track}: integrated loudness {t.integrated_lufs:.1f} LUFS is outside "
                        f"{spec.name} ({spec.target_lufs:g} ±{spec.tolerance_lu:g} LU)"))
        if t.true_peak_dbtp > spec.max_true_peak_dbtp:
            events.append(QcEvent(
                check="true_peak", severity=Severity.error, value=_num(t.true_peak_dbtp), **span,
                message=f"track {t.track}: true peak {t.true_peak_dbtp:.1f} dBTP exceeds {spec.name}'s "
                        f"{spec.max_true_peak_dbtp:g} dBTP"))
        for start, stop in t.silences:
            events.append(QcEvent(
                check="silence", track=t.track, start_s=start, end_s=stop, severity=Severity.warning,
                value=round(stop - start, 2),
                message=f"track {t.track}: {stop - start:.1f} s of silence"))
        for start, stop in t.dropouts:
            # Inside the programme only: digital silence at the head or tail is how files start and end.
            if start <= 0.0 or stop >= t.duration_s - 0.001:
                continue
            events.append(QcEvent(
                check="dropout", track=t.track, start_s=start, end_s=stop, severity=Severity.warning,
                value=round(stop - start, 3),
                message=f"track {t.track}: {stop - start:.1f} s of digital silence (exact zeros) inside the "
                        "programme"))
        for start, stop in merge_ranges(t.overlaps):
            events.append(QcEvent(
                check="speaker_overlap", track=t.track, start_s=start, end_s=stop, severity=Severity.info,
                value=round(stop - start, 2),
                message=f"track {t.track}: speakers overlap for {stop - start:.1f} s"))
        if t.speech_s == 0:
            events.append(QcEvent(check="no_speech", severity=Severity.info, **span,
                                  message=f"track {t.track}: no speech detected"))
        declared = normalize_language(t.declared_language)
        detected = normalize_language(t.detected_language)
        if declared and detected and declared != detected and (
                t.detected_probability is None or t.detected_probability >= language_min_probability):
            prob = f" (p={t.detected_probability:.2f})" if t.detected_probability is not None else ""
            events.append(QcEvent(
                check="language_mismatch", severity=Severity.warning, value=_num(t.detected_probability),
                **span, message=f"track {t.track}: declared language {t.declared_language!r} but the speech "
                                f"sounds like {t.detected_language!r}{prob}"))
    return events


def merge_ranges(ranges: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
