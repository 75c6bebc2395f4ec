"""Audio assets: decode once per track, speech segments, loudness, speakers, transcripts, audio QC.

    source_probe ── audio ─┬─ speech_segments ─┬─ speakers ── transcript ─┬─ voices
                           │                   └─ loudness ───────────────┴─ audio_qc
                           └──────────────────────────────────────────────┘

``speakers`` (diarization) runs before ``transcript`` so the transcript is written once, already
attributed (a speaker on every word and segment, ``<v S1>`` voice spans in the WebVTT);
``voices`` then adds what needs both (speaking rate, the series' voice ids) in speakers.json.

``audio`` is the only step that touches the delivered media: one demux pass
decodes every audio track, feeding a streaming BS.1770 meter (its 100 ms
energies → ``audio/track<N>.meter.parquet``) and writing a 16 kHz mono FLAC
(``audio/track<N>.16k.flac``) that VAD and Whisper read. A title without audio
materializes ``audio.json`` with ``no_audio: true``; every later step then
writes its (empty) result and ``audio_qc`` reports the finding.
"""

import hashlib
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from dagster import AssetExecutionContext, DataVersion, Failure, MaterializeResult, MetadataValue, asset

from prism.audio.artifacts import (
    finite_or_none,
    meter_from,
    meter_table,
    speech_table,
    transcript_table,
)
from prism.audio.asr import ModelUnavailable, identify_language, plan_chunks, speech_chunks, transcribe
from prism.audio.decode import (
    AudioDecodeError,
    decode_tracks,
    read_speech_audio,
    speech_file,
)
from prism.audio.diarize import DiarizationUnavailable, diarize_track
from prism.audio.languages import normalize_language
from prism.audio.loudness import to_db
from prism.audio.qc import (
    LOUDNESS_SPECS,
    TrackFacts,
    audio_events,
)
from prism.audio.speakers import (
    VOICES_SCHEMA,
    attribute,
    speaker_stats,
    speakers_table,
    turns_of,
    voice_profiles,
)
from prism.audio.subtitles import subtitle_names, to_srt, to_vtt
from prism.audio.vad import detect_speech
from prism.qc.events import events_table
from prism.storage import ArtifactStore, write_parquet
from prism_assets.assets.inputs import require_artifacts
from prism_assets.assets.source import source_probe
from prism_assets.compute import GPU_STEP, uses_models
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage, AsrModel, AudioQcPolicy, DiarizationModel, MediaReader, VadModel
from resources.models import ASR, DIARIZATION, VAD

AUDIO_VERSION = "2"  # 2: digital_silence per track
AUDIO_DIR = "audio"


def meter_file(track: int) -> str:
    return f"track{track}.meter.parquet"


def _audio_info(store: ArtifactStore, title_id: str) -> dict:
    require_artifacts(store, title_id, ("audio.json", "audio"))
    return store.read_json(title_id, "audio.json")


def _declared_languages(store: ArtifactStore, title_id: str) -> list[str]:
    if not store.exists(title_id, "delivery.json"):
        return []
    return list(store.read_json(title_id, "delivery.json").get("manifest", {}).get("audio_languages") or [])


@asset(
    partitions_def=titles,
    deps=[source_probe],
    group_name="audio",
    code_version=f"audio-{AUDIO_VERSION}",
    kinds={"pyav", "flac", "parquet"},
    description="Every audio track decoded once (one demux pass): full-rate samples feed a streaming "
    "BS.1770 meter (100 ms energies + true peaks, audio/track<N>.meter.parquet) and a 16 kHz mono FLAC "
    "(audio/track<N>.16k.flac) is written for VAD and Whisper; audio.json lists the tracks.",
)
def audio(context: AssetExecutionContext, storage: ArtifactStorage, media: MediaReader) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    require_artifacts(store, title_id, ("delivery.json", "delivery"))
    location = store.read_json(title_id, "delivery.json")["media_location"]
    declared = _declared_languages(store, title_id)
    with tempfile.TemporaryDirectory(prefix="prism-audio-") as tmp:
        work = Path(tmp)
        try:
            with media.open(location) as source:
                decoded = decode_tracks(source, work)
        except AudioDecodeError as exc:
            raise Failure(f"title {title_id}: {exc}") from None
        # Publish the per-track files first, audio.json (the index) last.
        tracks, files = [], {}
        for d in decoded:
            meter_path = work / meter_file(d.track)
            write_parquet(meter_table(d.meter), meter_path)
            files[f"{AUDIO_DIR}/{speech_file(d.track)}"] = work / speech_file(d.track)
            files[f"{AUDIO_DIR}/{meter_file(d.track)}"] = meter_path
            tracks.append({
                "track": d.track, "stream_index": d.stream_index, "codec": d.codec,
                "stream_language": d.language,
                "declared_language": declared[d.track] if d.track < len(declared) else d.language,
                "sample_rate": d.rate, "channels": d.channels, "layout": d.layout,
                "samples": d.meter.samples, "duration_s": round(d.duration_s, 3),
                "true_peak_linear": d.meter.true_peak_max, "sample_peak_linear": d.meter.sample_peak_max,
                "speech_audio": f"{AUDIO_DIR}/{speech_file(d.track)}",
                "meter": f"{AUDIO_DIR}/{meter_file(d.track)}",
                "digital_silence": [list(r) for r in d.digital_silence],
            })
        store.publish_files(title_id, files, replace_prefixes=(f"{AUDIO_DIR}/",))
    record = {"audio_version": AUDIO_VERSION, "no_audio": not tracks, "tracks": tracks}
    store.write_json(title_id, "audio.json", record)
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return MaterializeResult(
        metadata={
            "tracks": len(tracks), "no_audio": not tracks,
            "languages": ", ".join(t["declared_language"] or "und" for t in tracks) or "none",
            "duration_s": max((t["duration_s"] for t in tracks), default=0.0),
            "audio_json": MetadataValue.path(store.uri_of(title_id, "audio.json")),
        },
        data_version=DataVersion(digest),
    )


@asset(
    partitions_def=titles,
    deps=[audio],
    group_name="audio",
    code_version="vad-1",
    kinds={"onnx", "parquet"},
    description="Silero VAD speech segments of every track (speech.parquet: track, start_s, end_s, kind).",
    **uses_models(VAD),
)
def speech_segments(context: AssetExecutionContext, storage: ArtifactStorage,
                    vad: VadModel) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    info = _audio_info(store, title_id)
    rows, per_track = [], {}
    for t in info["tracks"]:
        with store.local_copy(title_id, t["speech_audio"]) as flac:
            segments = detect_speech(read_speech_audio(flac), t["duration_s"], vad.options(), vad.model())
        rows += [{"track": t["track"], "start_s": s.start_s, "end_s": s.end_s, "kind": "speech",
                  "confidence": s.confidence} for s in segments]
        per_track[t["track"]] = round(sum(s.duration_s for s in segments), 2)
    store.write_table(title_id, "speech.parquet", speech_table(rows))
    return MaterializeResult(metadata={
        "segments": len(rows), "speech_s_by_track": MetadataValue.json(per_track),
        "no_audio": info["no_audio"],
    })


def _speech_ranges(store: ArtifactStore, title_id: str) -> dict[int, list[tuple[float, float]]]:
    table = store.read_table(title_id, "speech.parquet").to_pylist()
    ranges: dict[int, list[tuple[float, float]]] = {}
    for row in table:
        ranges.setdefault(row["track"], []).append((row["start_s"], row["end_s"]))
    return ranges


@asset(
    partitions_def=titles,
    deps=[audio, speech_segments],
    group_name="audio",
    code_version="loudness-1",
    kinds={"json"},
    description="ITU-R BS.1770-4 / EBU R128 per track (loudness.json): integrated loudness, loudness "
    "range, true peak (4x oversampled), short-term curve, and dialogue loudness gated over the speech "
    "segments - all from the meter's 100 ms energies, without decoding again.",
)
def loudness(context: AssetExecutionContext, storage: ArtifactStorage) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    info = _audio_info(store, title_id)
    speech = _speech_ranges(store, title_id)
    tracks = []
    for t in info["tracks"]:
        meter = meter_from(store.read_table(title_id, t["meter"]), t)
        ranges = speech.get(t["track"], [])
        tracks.append({
            "track": t["track"], "language": t["declared_language"],
            "integrated_lufs": finite_or_none(meter.integrated_lufs()),
            "lra_lu": finite_or_none(meter.loudness_range()),
            "true_peak_dbtp": finite_or_none(to_db(meter.true_peak_max)),
            "sample_peak_dbfs": finite_or_none(to_db(meter.sample_peak_max)),
            "dialog_lufs": finite_or_none(meter.gated_loudness_in(ranges)) if ranges else None,
            "speech_s": round(sum(e - s for s, e in ranges), 2),
            "short_term": {"step_s": 1.0, "window_s": 3.0, "lufs": meter.short_term_every(1.0)},
        })
    record = {"standard": "ITU-R BS.1770-4 / EBU R128 (EBU Tech 3342 LRA)", "no_audio": info["no_audio"],
              "tracks": tracks}
    store.write_json(title_id, "loudness.json", record)
    metadata = {"no_audio": info["no_audio"]}
    for t in tracks:
        n = t["track"]
        metadata |= {f"track{n}_integrated_lufs": t["integrated_lufs"], f"track{n}_lra_lu": t["lra_lu"],
                     f"track{n}_true_peak_dbtp": t["true_peak_dbtp"], f"track{n}_dialog_lufs": t["dialog_lufs"]}
    return MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})


SPEAKERS_PARQUET = "speakers.parquet"
SPEAKER_VOICES = "speaker_voices.parquet"


@asset(
    partitions_def=titles,
    deps=[audio, speech_segments],
    group_name="audio",
    code_version="speakers-1",
    kinds={"pytorch", "parquet"},
    description="Speaker diarization of every track with speech (speakers.parquet: track, start_s, "
    "end_s, speaker S1, S2… by first appearance, overlap) and each speaker's voice "
    "(speaker_voices.parquet: speaking time, turns, F0 median and 10-90 % range, embedding centroid; "
    "kept in the media account, not bundled).",
    **uses_models(DIARIZATION, step=GPU_STEP),
)
def speakers(context: AssetExecutionContext, storage: ArtifactStorage,
             diarization: DiarizationModel) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    info = _audio_info(store, title_id)
    speech = _speech_ranges(store, title_id)
    rows, voices, notes = [], [], []
    diarizer, load_s, diarize_s, audio_s = None, 0.0, 0.0, 0.0
    for t in info["tracks"]:
        n = t["track"]
        if not speech.get(n):
            notes.append(f"track {n}: no speech, no speakers")
            continue
        if diarizer is None:
            started = time.perf_counter()
            try:
                diarizer = diarization.diarizer()
            except DiarizationUnavailable as exc:
                raise Failure(f"title {title_id}: {exc}") from None
            load_s = time.perf_counter() - started  # ~0 once the process has the model
        started = time.perf_counter()
        with store.local_copy(title_id, t["speech_audio"]) as flac:
            result = diarize_track(diarizer, flac, chunk_s=diarization.chunk_s,
                                   threshold=diarization.link_threshold)
            profiles = voice_profiles(flac, result.turns)
        diarize_s += time.perf_counter() - started
        audio_s += result.seconds
        if not result.turns:
            notes.append(f"track {n}: speech found but no speaker turns")
        rows += [{"track": n, "start_s": round(x.start_s, 3), "end_s": round(x.end_s, 3), "speaker": x.speaker,
                  "overlap": x.overlap} for x in result.turns]
        for speaker, stats in speaker_stats(result.turns).items():
            p = profiles.get(speaker)
            voices.append({"track": n, "speaker": speaker, **stats,
                           "f0_median_hz": p.f0_median_hz if p else None,
                           "f0_p10_hz": p.f0_p10_hz if p else None, "f0_p90_hz": p.f0_p90_hz if p else None,
                           "embedding": result.centroids[speaker].astype("float32").tolist()})
    store.write_table(title_id, SPEAKER_VOICES, pa.Table.from_pylist(voices, schema=VOICES_SCHEMA))
    store.write_table(title_id, SPEAKERS_PARQUET, speakers_table(rows))  # the turn table last
    return MaterializeResult(metadata={
        "turns": len(rows), "speakers": len(voices), "backend": diarization.backend,
        "speakers_by_track": MetadataValue.json({str(t["track"]): sum(v["track"] == t["track"] for v in voices)
                                                 for t in info["tracks"]}),
        "overlap_turns": sum(r["overlap"] for r in rows),
        "model_load_s": round(load_s, 2), "diarize_s": round(diarize_s, 2),
        "x_real_time": round(audio_s / diarize_s, 1) if diarize_s else None,
        "notes": "; ".join(notes) or "none", "no_audio": info["no_audio"],
    })


@asset(
    partitions_def=titles,
    deps=[audio, speech_segments, speakers],
    group_name="audio",
    code_version="transcript-3",  # 2: word timings from the transformers backend; 3: speakers
    kinds={"whisper", "parquet"},
    description="Whisper transcripts of every track over its VAD speech (transcript.parquet with word "
    "timings and a speaker on every word and segment, segments split where the speaker changes; "
    "transcript.json per-track languages; transcript.<lang>.vtt with <v S1> voice spans, .srt).",
    **uses_models(ASR, step=GPU_STEP),
)
def transcript(context: AssetExecutionContext, storage: ArtifactStorage, asr: AsrModel) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    info = _audio_info(store, title_id)
    speech = _speech_ranges(store, title_id)
    require_artifacts(store, title_id, (SPEAKERS_PARQUET, "speakers"))
    turn_table = store.read_table(title_id, SPEAKERS_PARQUET)
    results = []
    if any(speech.get(t["track"]) for t in info["tracks"]):
        try:
            model = asr.transcriber()
        except ModelUnavailable as exc:
            raise Failure(f"title {title_id}: {exc}") from None
    for t in info["tracks"]:
        windows = plan_chunks(speech.get(t["track"], []), pack=asr.pack_speech)
        detected = None
        declared = normalize_language(t["declared_language"])
        if windows:
            with store.local_copy(title_id, t["speech_audio"]) as flac:
                def chunks(flac=flac, windows=windows):
                    return speech_chunks(flac, windows)

                batch_size = asr.batch_size_for(model)
                if asr.language_policy == "declared" and declared in model.languages and model.multilingual:
                    # Decode in the declared language; identify anyway, for QC to compare.
                    detected = identify_language(model, chunks())
                    result = transcribe(model, chunks(), language=declared, batch_size=batch_size)
                else:
                    result = transcribe(model, chunks(), batch_size=batch_size)
                    detected = (result.language, result.language_probability)
            result.segments = attribute(result.segments, turns_of(turn_table, t["track"]))
        else:
            result = None
        results.append((t, result, detected))

    used = [(t["track"], r.language) for t, r, _ in results if r is not None and r.language and r.segments]
    names = subtitle_names(used)
    table = transcript_table([(t["track"], r.language if r else None, r.segments if r else [])
                              for t, r, _ in results])
    written = set()
    for t, r, _ in results:
        stem = names.get(t["track"])
        if stem is None:
            continue
        store.write_text(title_id, f"{stem}.vtt", to_vtt(r.segments, r.language))
        store.write_text(title_id, f"{stem}.srt", to_srt(r.segments))
        written |= {f"{stem}.vtt", f"{stem}.srt"}
    store.write_table(title_id, "transcript.parquet", table)
    summary = {"backend": asr.backend, "no_audio": info["no_audio"], "tracks": [
        {"track": t["track"], "declared_language": t["declared_language"],
         "language": r.language if r else None,
         "detected_language": d[0] if d else None,
         "detected_probability": finite_or_none(d[1], 3) if d and d[1] is not None else None,
         "segments": len(r.segments) if r else 0,
         "attributed_segments": sum(s.speaker is not None for s in r.segments) if r else 0,
         "subtitles": [f"{names[t['track']]}.vtt", f"{names[t['track']]}.srt"] if t["track"] in names else []}
        for t, r, d in results]}
    store.write_json(title_id, "transcript.json", summary)
    store.remove_stale(title_id, keep=written | {"transcript.parquet", "transcript.json"},
                       prefixes=("transcript.",))
    return MaterializeResult(metadata={
        "segments": table.num_rows, "backend": asr.backend,
        "languages": MetadataValue.json({str(x["track"]): x["language"] for x in summary["tracks"]}),
        "subtitles": ", ".join(sorted(written)) or "none",
    })


@asset(
    partitions_def=titles,
    deps=[audio, speech_segments, loudness, speakers, transcript],
    group_name="audio",
    code_version="audio-qc-2",  # 2: dropouts, speaker overlap
    kinds={"parquet"},
    description="Audio QC findings (qc_audio.parquet, shared QC event schema): no audio, loudness and "
    "true peak outside the delivery spec, long silences, dropouts (digital silence >= 1 s inside the "
    "programme), silent tracks, tracks without speech, overlapping speakers (info), and the heard "
    "language differing from the declared one.",
)
def audio_qc(context: AssetExecutionContext, storage: ArtifactStorage, audio_qc_policy: AudioQcPolicy,
             ) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    info = _audio_info(store, title_id)
    spec = LOUDNESS_SPECS.get(audio_qc_policy.loudness_spec)
    if spec is None:
        raise Failure(f"title {title_id}: unknown loudness spec {audio_qc_policy.loudness_spec!r} "
                      f"(PRISM_LOUDNESS_SPEC: one of {', '.join(LOUDNESS_SPECS)})")
    levels = {t["track"]: t for t in store.read_json(title_id, "loudness.json")["tracks"]}
    languages = {t["track"]: t for t in store.read_json(title_id, "transcript.json")["tracks"]}
    turns = (store.read_table(title_id, SPEAKERS_PARQUET).to_pylist()
             if store.exists(title_id, SPEAKERS_PARQUET) else [])
    facts = []
    for t in info["tracks"]:
        n = t["track"]
        meter = meter_from(store.read_table(title_id, t["meter"]), t)
        level, lang = levels[n], languages.get(n, {})
        facts.append(TrackFacts(
            track=n, duration_s=t["duration_s"],
            integrated_lufs=_or_inf(level["integrated_lufs"]), true_peak_dbtp=_or_inf(level["true_peak_dbtp"]),
            dialog_lufs=_or_inf(level["dialog_lufs"]), speech_s=level["speech_s"],
            declared_language=t["declared_language"], detected_language=lang.get("detected_language"),
            detected_probability=lang.get("detected_probability"),
            silences=meter.quiet_stretches(audio_qc_policy.silence_threshold_lufs,
                                           audio_qc_policy.silence_min_s),
            dropouts=[tuple(r) for r in t.get("digital_silence", [])],
            overlaps=[(r["start_s"], r["end_s"]) for r in turns if r["track"] == n and r["overlap"]],
        ))
    duration = _title_duration(store, title_id, info)
    events = audio_events(duration, facts, spec)
    store.write_table(title_id, "qc_audio.parquet", events_table(events))
    counts: dict[str, int] = {}
    for e in events:
        counts[e.check] = counts.get(e.check, 0) + 1
    return MaterializeResult(metadata={
        "events": len(events), "spec": spec.name, "by_check": MetadataValue.json(counts),
        "errors": sum(e.severity == "error" for e in events),
    })


def _or_inf(value: float | None) -> float:
    return float("-inf") if value is None else float(value)


def _title_duration(store: ArtifactStore, title_id: str, info: dict) -> float:
    if store.exists(title_id, "probe.json"):
        return float(store.read_json(title_id, "probe.json").get("duration_s") or 0.0)
    return max((t["duration_s"] for t in info["tracks"]), default=0.0)


AUDIO_ASSETS = [audio, speech_segments, loudness, speakers, transcript, audio_qc]
