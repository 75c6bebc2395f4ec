"""VAD and Whisper on generated speech: real espeak-ng audio, tone beds and silence.

faster-whisper runs the real bundled model (multilingual Whisper base from the
`demo` extra); the transformers backend runs a tiny random Whisper saved to a
temp dir, through the real ``from_pretrained`` path.
"""

import re

import numpy as np
import pytest
from audio_signals import music_bed, place, speech, write_audio
from tiny_whisper import build_tiny_whisper

from prism.audio import asr
from prism.audio.asr import (
    FasterWhisper,
    ModelUnavailable,
    SpeechChunk,
    TranscriptSegment,
    TransformersWhisper,
    Word,
    bundled_model_dir,
    plan_chunks,
    speech_chunks,
    transcribe,
)
from prism.audio.decode import SPEECH_RATE, decode_tracks, read_speech_audio, speech_samples_in
from prism.audio.metrics import word_error_rate as wer
from prism.audio.vad import detect_speech
from resources.audio import AsrModel

ENGLISH = [
    (1.0, "The quick brown fox jumps over the lazy dog."),
    (13.0, "Every title becomes shots, keyframes and transcripts."),
]
TONE_BED = (5.5, 6.0)  # music-like bed, no speech
SILENCE = (20.0, 26.0)
DURATION = 26.0


@pytest.fixture(scope="session")
def english_track(tmp_path_factory):
    """English speech, a music-like bed between the sentences, and a silent tail; decoded once."""
    d = tmp_path_factory.mktemp("speech-en")
    clips = [(start, speech(text)) for start, text in ENGLISH]
    x = place(DURATION, *clips, (TONE_BED[0], music_bed(TONE_BED[1], -14)))
    (decoded,) = decode_tracks(str(write_audio(d / "en.flac", np.stack([x, x]))), d)
    truth = [(start, start + clip.size / 48_000) for start, clip in clips]
    return d / "track0.16k.flac", decoded, truth


@pytest.fixture(scope="session")
def english_speech(english_track):
    flac, decoded, truth = english_track
    return flac, truth, detect_speech(read_speech_audio(flac), decoded.duration_s)


@pytest.fixture(scope="session")
def bundled_whisper(tmp_path_factory) -> FasterWhisper:
    path = bundled_model_dir(tmp_path_factory.mktemp("models"))
    assert path is not None, "the bundled Whisper models (demo extra) are not installed"
    return FasterWhisper(str(path), device="cpu")


def chunks_for(flac, segments, pack: bool = False) -> list[SpeechChunk]:
    return list(speech_chunks(flac, plan_chunks([(s.start_s, s.end_s) for s in segments], pack=pack)))


def inside(interval, regions, slack=0.35) -> bool:
    return any(interval[0] >= a - slack and interval[1] <= b + slack for a, b in regions)


def overlaps(interval, region) -> bool:
    return interval[0] < region[1] and interval[1] > region[0]


def test_intermediate_is_16k_mono_and_complete(english_track):
    flac, decoded, _ = english_track
    samples = np.concatenate(list(read_speech_audio(flac)))
    assert samples.size / SPEECH_RATE == pytest.approx(decoded.duration_s, abs=0.05)
    assert np.abs(samples[int(SILENCE[0] * SPEECH_RATE):]).max() < 1e-3


def test_vad_finds_the_speech_and_nothing_in_tone_or_silence(english_speech):
    _, truth, segments = english_speech
    assert segments, "no speech found"
    for s in segments:
        assert inside((s.start_s, s.end_s), truth), f"{s} is outside the spoken sentences"
        assert not overlaps((s.start_s, s.end_s), (TONE_BED[0], TONE_BED[0] + TONE_BED[1]))
        assert not overlaps((s.start_s, s.end_s), SILENCE)
    for start, end in truth:  # each sentence is mostly covered
        covered = sum(max(0.0, min(end, s.end_s) - max(start, s.start_s)) for s in segments)
        assert covered >= 0.8 * (end - start)


def test_speech_samples_follow_the_requested_ranges(english_track):
    flac, _, _ = english_track
    ranges = [(0.5, 1.5), (1.5, 2.0), (24.0, 27.0)]
    pieces = list(speech_samples_in(flac, ranges))
    assert [p.size for p in pieces[:2]] == [16_000, 8_000]
    assert pieces[2].size == pytest.approx(2 * 16_000, abs=200)  # clipped at the end of the track
    whole = np.concatenate(list(read_speech_audio(flac)))
    np.testing.assert_array_equal(pieces[0], whole[8_000:24_000])


def test_plan_chunks_merges_close_speech_and_packs_across_long_gaps():
    assert plan_chunks([(0, 2), (2.5, 4), (10, 12)]) == [((0, 4),), ((10, 12),)]
    assert plan_chunks([(0, 2), (2.5, 4), (10, 12)], pack=True) == [((0, 4), (10, 12))]
    long = plan_chunks([(0, 70)], pack=True)
    assert [w[0] for w in long] == [(0, 28.0), (28.0, 56.0), (56.0, 70)]
    many = plan_chunks([(i * 10.0, i * 10.0 + 5) for i in range(20)], pack=True)
    assert all(sum(b - a for a, b in w) + 0.5 * (len(w) - 1) <= 28.0 for w in many)
    assert [p for w in many for p in w] == [(i * 10.0, i * 10.0 + 5) for i in range(20)]


def test_packed_windows_map_back_without_spanning_the_removed_gap():
    chunk = SpeechChunk(((10.0, 12.0), (50.0, 51.0)), np.zeros(int(3.5 * SPEECH_RATE), np.float32))
    assert chunk.offsets() == [0.0, 2.5]
    words = (Word(0.2, 0.8, "hello"), Word(1.0, 1.9, "there"), Word(2.6, 3.2, "again"))
    segment = TranscriptSegment(0.2, 3.2, "hello there again", words)
    placed = asr._place(segment, chunk, "en")
    assert [(s.start_s, s.end_s, s.text) for s in placed] == [(10.2, 11.9, "hello there"),
                                                              (50.1, 50.7, "again")]
    assert placed[1].words[0].start_s == 50.1


@pytest.mark.parametrize("pack", [False, True], ids=["window-per-speech", "packed-windows"])
def test_faster_whisper_transcribes_english_speech(english_speech, bundled_whisper, pack):
    flac, truth, segments = english_speech
    chunks = chunks_for(flac, segments, pack=pack)
    assert len(chunks) == (1 if pack else 2)  # packed: both sentences share one window, tone removed
    result = transcribe(bundled_whisper, chunks, batch_size=4)
    assert result.language == "en" and result.language_probability > 0.5
    text = " ".join(s.text for s in result.segments)
    assert wer(" ".join(t for _, t in ENGLISH), text) <= 0.25, text
    for s in result.segments:
        assert inside((s.start_s, s.end_s), truth), f"segment {s.start_s}-{s.end_s} {s.text!r} outside speech"
        assert not overlaps((s.start_s, s.end_s), SILENCE)
        assert s.words and all(s.start_s - 0.01 <= w.start_s <= w.end_s <= s.end_s + 0.01 for w in s.words)


def test_the_cpu_encoder_takes_a_batch_window_by_window_with_identical_output(bundled_whisper):
    """FasterWhisper's model encodes a batch's windows one at a time on CPU (a batch of 8 held
    all self-attention scores at once: +737 MB for Whisper base); the output is the batched one."""
    from faster_whisper import WhisperModel

    features = np.random.default_rng(0).standard_normal((3, 80, 3000)).astype(np.float32)
    assert isinstance(bundled_whisper.model, WhisperModel) and bundled_whisper.model.model.device == "cpu"
    window_by_window = np.asarray(bundled_whisper.model.encode(features))
    batched = np.asarray(WhisperModel.encode(bundled_whisper.model, features))
    assert window_by_window.shape == batched.shape and window_by_window.shape[0] == 3
    assert np.array_equal(window_by_window, batched)


def test_faster_whisper_on_korean_declared_language(tmp_path, bundled_whisper):
    text = "안녕하세요. 오늘 날씨가 정말 좋습니다."
    x = place(8, (1, speech(text, voice="ko")))
    (decoded,) = decode_tracks(str(write_audio(tmp_path / "ko.flac", x[None, :])), tmp_path)
    flac = tmp_path / "track0.16k.flac"
    segments = detect_speech(read_speech_audio(flac), decoded.duration_s)
    result = transcribe(bundled_whisper, chunks_for(flac, segments), language="ko")
    assert result.language == "ko" and result.segments
    hangul = re.search(r"[\uac00-\ud7a3]", " ".join(s.text for s in result.segments))
    assert hangul, "no Hangul in the transcript"
    _, probabilities = bundled_whisper.model.detect_language(
        audio=np.concatenate([c.audio for c in chunks_for(flac, segments)]))[1:]
    # espeak-ng's Korean is crude; Whisper base still ranks Korean among its top candidates. The
    # rank moves with the espeak-ng build: 2nd-3rd on earlier machines, 4th (after th, ja, km) on
    # this one (Debian espeak-ng 1.51, Nov 2026) with the same code; the Hangul above is the check
    # that matters (decoding in the declared language).
    assert "ko" in [lang for lang, _ in probabilities[:5]]


def test_no_speech_means_no_transcript(tmp_path, bundled_whisper):
    x = place(12, (1, music_bed(8, -10)))
    (decoded,) = decode_tracks(str(write_audio(tmp_path / "bed.flac", x[None, :])), tmp_path)
    segments = detect_speech(read_speech_audio(tmp_path / "track0.16k.flac"), decoded.duration_s)
    assert segments == []
    result = transcribe(bundled_whisper, chunks_for(tmp_path / "track0.16k.flac", segments))
    assert result.segments == [] and result.language is None


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> TransformersWhisper:
    return TransformersWhisper(str(build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))), device="cpu")


def test_transformers_backend_batches_chunks_with_a_forced_language(english_speech, tiny_whisper):
    flac, truth, segments = english_speech
    chunks = chunks_for(flac, segments)
    calls = []
    original = tiny_whisper.transcribe_batch

    def spy(batch, language):
        calls.append((len(batch), language))
        return original(batch, language)

    tiny_whisper.transcribe_batch = spy
    try:
        result = transcribe(tiny_whisper, chunks, language="ko", batch_size=2)
    finally:
        del tiny_whisper.transcribe_batch
    assert calls and all(lang == "ko" for _, lang in calls)
    assert [n for n, _ in calls] == [min(2, len(chunks) - i) for i in range(0, len(chunks), 2)]
    assert result.language == "ko"
    for s in result.segments:  # random weights, meaningless text, but never outside the speech
        assert inside((s.start_s, s.end_s), [p for c in chunks for p in c.pieces], slack=0.0)


def test_transformers_backend_identifies_a_language_it_knows(english_speech, tiny_whisper):
    flac, _, segments = english_speech
    result = transcribe(tiny_whisper, chunks_for(flac, segments))
    assert result.language in {"en", "ko", "fr", "de"}
    assert 0.0 < result.language_probability <= 1.0


def assert_word_structure(segments) -> int:
    """Words exist, are ordered and apart, lie inside their segment and spell its text."""
    count = 0
    for s in segments:
        assert s.words, f"segment {s.start_s}-{s.end_s} {s.text!r} has no words"
        for w in s.words:
            assert s.start_s <= w.start_s <= w.end_s <= s.end_s, f"{w} outside {s.start_s}-{s.end_s}"
            assert w.text and w.text == w.text.strip()
        for a, b in zip(s.words, s.words[1:], strict=False):
            assert a.end_s <= b.start_s, f"{a} overlaps {b}"
        assert "".join(w.text for w in s.words) == "".join(s.text.split())
        count += len(s.words)
    return count


@pytest.mark.parametrize("pack", [False, True], ids=["window-per-speech", "packed-windows"])
def test_transformers_backend_times_words_inside_their_segments(english_speech, tiny_whisper, pack):
    flac, _, segments = english_speech
    chunks = chunks_for(flac, segments, pack=pack)
    result = transcribe(tiny_whisper, chunks, language="en", batch_size=4)
    assert result.segments, "the tiny model's random text should still give segments"
    assert assert_word_structure(result.segments) > len(result.segments)  # several words somewhere
    speech = [p for c in chunks for p in c.pieces]
    for s in result.segments:
        assert all(inside((w.start_s, w.end_s), speech, slack=0.0) for w in s.words)
    # generate() switches the shared config to eager for the cross-attentions; SDPA is back after.
    assert tiny_whisper.model.config._attn_implementation == "sdpa"


def test_transformers_word_heads_from_the_checkpoint_else_the_upper_decoder_half(tmp_path, tiny_whisper):
    # The tiny model has no alignment heads: every head of the upper half of its one layer.
    assert not tiny_whisper.alignment_heads_from_model
    assert tiny_whisper.model.generation_config.alignment_heads == [[0, 0], [0, 1]]
    assert asr.default_alignment_heads(6, 8)[0] == [3, 0] and len(asr.default_alignment_heads(6, 8)) == 24
    named = TransformersWhisper(str(build_tiny_whisper(tmp_path / "named", alignment_heads=[[0, 1]])),
                                device="cpu")
    assert named.alignment_heads_from_model and named.model.generation_config.alignment_heads == [[0, 1]]
    noise = np.random.default_rng(1).normal(0, 0.1, 3 * SPEECH_RATE).astype(np.float32)
    chunk = SpeechChunk(((2.0, 5.0),), noise)
    assert_word_structure(transcribe(named, [chunk], language="en").segments)


def test_transformers_tokens_split_into_timed_segments_and_words(tiny_whisper):
    """The token walk on a known sequence: timestamps bound segments, DTW token times bound
    words (clamped into the segment), pieces of one word join, specials never become text."""
    tok = tiny_whisper.processor.tokenizer
    ids = tok.convert_tokens_to_ids
    tokens = [ids("<|0.50|>"), ids("Ġhello"), ids("Ġworld"), ids("<|1.50|>"), ids("<|1.50|>"),
              ids("Ġprism"), ids("a"), ids("<|nospeech|>"), ids("b"), ids("<|2.60|>"), ids("<|endoftext|>")]
    times = np.array([0.0, 0.3, 0.9, 1.4, 1.4, 1.6, 1.8, 1.9, 1.9, 2.9, 2.9])
    segments = tiny_whisper._segments(tokens, times, span=2.8, language="en")
    assert [(s.start_s, s.end_s, s.text.strip()) for s in segments] == [(0.5, 1.5, "hello world"),
                                                                       (1.5, 2.6, "prismab")]
    assert [(w.start_s, w.end_s, w.text) for w in segments[0].words] == [(0.5, 0.9, "hello"),
                                                                         (0.9, 1.4, "world")]
    assert [(w.start_s, w.end_s, w.text) for w in segments[1].words] == [(1.6, 2.6, "prismab")]
    # Unspaced scripts (Japanese, Chinese, Thai...) split at every complete character instead.
    unspaced = tiny_whisper._segments(tokens, times, span=2.8, language="ja")
    assert [(w.start_s, w.end_s, w.text) for w in unspaced[1].words] == [(1.6, 1.8, "prism"), (1.8, 1.9, "a"),
                                                                         (1.9, 2.6, "b")]
    # No closing timestamp: the text runs to the end of the window's audio.
    open_ended = tiny_whisper._segments(tokens[:3], np.array([0.0, 0.7, 5.0]), span=2.8, language="en")
    assert [(s.start_s, s.end_s) for s in open_ended] == [(0.5, 2.8)]
    assert [(w.start_s, w.end_s) for w in open_ended[0].words] == [(0.7, 2.8), (2.8, 2.8)]


def test_missing_model_names_the_setting(tmp_path):
    with pytest.raises(ModelUnavailable, match="PRISM_ASR_MODEL_SOURCE"):
        AsrModel(backend="transformers", source=None, cache_dir=str(tmp_path)).transcriber()
    with pytest.raises(ModelUnavailable, match="PRISM_ASR_MODEL_SOURCE"):
        AsrModel(backend="transformers", source=str(tmp_path / "absent"), cache_dir=str(tmp_path)).transcriber()


@pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning")
def test_vad_probabilities_match_silero_streaming_and_ignore_block_size(english_track):
    import torch
    from silero_vad import load_silero_vad

    from prism.audio.vad import WINDOW, speech_probabilities

    flac, _, _ = english_track
    audio = np.concatenate(list(read_speech_audio(flac)))[: 16_000 * 8]
    streaming = load_silero_vad(onnx=True)
    reference = [float(streaming(torch.from_numpy(audio[i:i + WINDOW]), SPEECH_RATE))
                 for i in range(0, audio.size - WINDOW + 1, WINDOW)]
    odd_blocks = speech_probabilities([audio[i:i + 7777] for i in range(0, audio.size, 7777)])
    np.testing.assert_allclose(odd_blocks[: len(reference)], reference, atol=1e-5)
    np.testing.assert_array_equal(odd_blocks, speech_probabilities([audio]))


def test_word_timings_do_not_depend_on_the_position_in_the_batch(english_speech, bundled_whisper):
    """A chunk's words come out the same whether it is decoded alone or after another chunk of an
    odd length. faster-whisper times words from its truncated 10 ms ``seek``, not from the clip's
    exact offset: shifted by that offset, words moved by up to 10 ms with their batch position (so
    a smaller PRISM_ASR_BATCH_SIZE changed the timings)."""
    flac, _, segments = english_speech
    first, second = chunks_for(flac, segments)[:2]
    odd = SpeechChunk(first.pieces, first.audio[: first.audio.size - 77])  # off the 10 ms grid
    alone = bundled_whisper.transcribe_batch([second], "en")[0]
    behind = bundled_whisper.transcribe_batch([odd, second], "en")[1]
    words = [(w.text, w.start_s, w.end_s) for s in alone for w in s.words]
    assert words and words == [(w.text, w.start_s, w.end_s) for s in behind for w in s.words]
    assert [(s.start_s, s.end_s) for s in alone] == [(s.start_s, s.end_s) for s in behind]
