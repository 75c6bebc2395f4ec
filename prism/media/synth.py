"""Synthetic titles with exact ground truth: the demo's input and the tests' fixture factory.

A title is a timeline of scenes and transitions (hard cut, fade through
black, dissolve, black gap, white flashes, pans, punch-ins; hard motion inside a
shot: whip pans, handheld shake, a large object crossing, strobing light) plus audio tracks
with real synthetic speech (espeak-ng), tones and silence. Frames are
rendered and encoded one at a time, so long titles cost no memory. The truth
(cut frames, gradual transitions, flashes, speech regions) is returned and
written next to the media.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48_000


# -- timeline items --------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    """A shot of a textured, slowly panning scene. Same seed + zoom>1 = a punch-in."""

    seed: int
    duration_s: float
    pan_px_per_s: float = 12.0
    zoom: float = 1.0
    flashes_s: tuple[float, ...] = ()  # times (from the scene's start) of 2-frame white flashes
    letterbox: float = 0.0  # share of the height blacked out at the top and at the bottom
    pillarbox: float = 0.0  # share of the width blacked out at the left and at the right
    detail: float = 0.12  # contrast of the fine stripes (high detail + fast pan = hard motion)
    # Hard motion inside one shot (content detectors are known to cut on it):
    whips_s: tuple[float, ...] = ()  # whip pans: start times of a 0.32 s, motion-blurred sweep ...
    whip_px: float = 0.0  # ... over this many pixels to the right (eased in and out)
    shake_px: float = 0.0  # handheld shake: jitter of up to this many pixels each way, every frame
    objects_s: tuple[float, ...] = ()  # a large high-contrast object crosses the frame, starting then
    object_cross_s: float = 0.6  # ... in this long (left edge to right edge)
    strobe_hold: int = 0  # strobing light: brightness and colour jump every 1..strobe_hold frames


@dataclass(frozen=True)
class Photo:
    """A shot of a real photograph (one of the images bundled in scikit-image's wheel) filmed by
    a virtual camera: a 16:9 window on the photo that may pan, zoom, shake or whip.

    Two consecutive ``Photo`` shots of the same image are two framings of one scene: a punch-in
    or pull-out (another ``zoom``) or a reframe (another ``center``).
    """

    image: str  # a ``skimage.data`` name, e.g. "astronaut", "coffee", "rocket"
    duration_s: float
    zoom: float = 1.0  # 1 = the widest 16:9 window on the photo; 1.2 = 20 % tighter
    center: tuple[float, float] = (0.5, 0.5)  # the window's centre (x, y) as shares of the photo
    pan: tuple[float, float] = (0.0, 0.0)  # camera travel (x, y) per second, in frame widths/heights
    zoom_rate: float = 0.0  # continuous zoom: the zoom is multiplied by exp(zoom_rate) each second
    shake: float = 0.0  # handheld shake: jitter of up to this share of the frame width, every frame
    whips_s: tuple[float, ...] = ()  # whip pans: start times of a 0.32 s motion-blurred sweep ...
    whip: float = 0.0  # ... over this many frame widths to the right (eased in and out)
    flashes_s: tuple[float, ...] = ()  # 2-frame white flashes (photographers' flashes)
    grain: float = 2.0  # sensor noise (std of 8-bit code values), so no two frames are identical


@dataclass(frozen=True)
class Black:
    duration_s: float


@dataclass(frozen=True)
class FadeOut:
    """The previous scene fades to black over ``duration_s`` (part of the gradual transition)."""

    duration_s: float


@dataclass(frozen=True)
class FadeIn:
    """The next scene rises from black over ``duration_s``."""

    duration_s: float


@dataclass(frozen=True)
class Dissolve:
    """Cross-fade from the previous scene to the next one over ``duration_s``."""

    duration_s: float


TimelineItem = Scene | Photo | Black | FadeOut | FadeIn | Dissolve
Shot = Scene | Photo

# A black stretch at least this long is a shot of its own (``Truth.black``): a hard cut into
# it and one out of it are cuts, a fade into or out of it a gradual transition of its own.
# Shorter black is a dip inside the transition around it.
BLACK_SHOT_MIN_S = 0.25


@dataclass(frozen=True)
class Speech:
    text: str
    start_s: float
    voice: str = "en"  # espeak-ng voice, e.g. "en", "ko"
    gain_db: float = -3.0


@dataclass(frozen=True)
class Tone:
    start_s: float
    duration_s: float
    freq_hz: float = 440.0
    level_dbfs: float = -12.0


@dataclass(frozen=True)
class AudioTrack:
    language: str | None = "eng"
    events: tuple[Speech | Tone, ...] = ()
    channels: int = 2


@dataclass
class Truth:
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    cuts: list[int] = field(default_factory=list)  # first frame of the new shot
    gradual: list[dict] = field(default_factory=list)  # {kind, start_frame, end_frame}
    flashes: list[int] = field(default_factory=list)
    black: list[dict] = field(default_factory=list)  # {start_frame, end_frame, shot}
    # Parallel to ``cuts``: 'same_scene' (two framings of one scene: punch-in, pull-out,
    # reframe), 'black' (into or out of a black shot) or 'plain'.
    cut_kinds: list[str] = field(default_factory=list)
    motion: list[dict] = field(default_factory=list)  # {start_frame, end_frame, kind}: moving-camera shots
    speech: list[dict] = field(default_factory=list)  # {track, start_s, end_s, text, voice}
    tones: list[dict] = field(default_factory=list)
    audio_tracks: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


# -- rendering -------------------------------------------------------------
def _texture(seed: int, height: int, width: int, detail: float = 0.12) -> np.ndarray:
    """A colourful low-frequency texture with some detail: easy to tell scenes apart."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, 10, 3), dtype=np.float32)
    ys = np.linspace(0, coarse.shape[0] - 1, height, dtype=np.float32)
    xs = np.linspace(0, coarse.shape[1] - 1, width, dtype=np.float32)
    y0 = np.floor(ys).astype(int).clip(0, coarse.shape[0] - 2)
    x0 = np.floor(xs).astype(int).clip(0, coarse.shape[1] - 2)
    wy = (ys - y0)[:, None, None]
    wx = (xs - x0)[None, :, None]
    c = coarse
    img = ((c[y0][:, x0] * (1 - wy) * (1 - wx)) + (c[y0 + 1][:, x0] * wy * (1 - wx))
           + (c[y0][:, x0 + 1] * (1 - wy) * wx) + (c[y0 + 1][:, x0 + 1] * wy * wx))
    base = rng.random(3, dtype=np.float32)
    img = 0.55 * img + 0.35 * base[None, None, :]
    # Detail: stripes and dots at a seed-dependent angle, so texture is sharp.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(3, 9))
    img += detail * stripes[..., None]
    return (img.clip(0, 1) * 255).astype(np.uint8)


WHIP_S = 0.32  # a whip pan's length
# Club/stage lighting: RGB gains the strobing light jumps between (dim, white, red, blue, amber).
STROBE_LIGHTS = ((0.3, 0.3, 0.3), (1.0, 1.0, 1.0), (1.35, 1.35, 1.35), (1.3, 0.35, 0.35),
                 (0.35, 0.45, 1.4), (1.3, 0.9, 0.3))


def _whip_progress(u: np.ndarray | float) -> np.ndarray | float:
    """Share of a whip pan's sweep done at ``u`` (0..1 of its length): eased in and out."""
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


class _SceneRenderer:
    def __init__(self, scene: Scene, width: int, height: int, fps: float):
        self.scene, self.width, self.height, self.fps = scene, width, height, fps
        travel = scene.pan_px_per_s * (scene.duration_s + 4)
        # A pan to the left starts at the texture's right end: the picture never wraps around.
        self.x0 = int(max(0.0, -travel))
        pad = int(abs(travel) + abs(scene.whip_px) * len(scene.whips_s)) + 8
        self.margin = int(np.ceil(scene.shake_px))  # room for the shake on every side
        pad += 2 * self.margin
        tex_w = int(width / scene.zoom) + pad if scene.zoom > 1 else width + pad
        self.tex = _texture(scene.seed, height + 2 * self.margin, tex_w, scene.detail)
        self.crop_h = int(round(height / scene.zoom))
        self.crop_w = int(round(width / scene.zoom))
        self.shake = np.random.default_rng(scene.seed + 1000)  # the same shake on every render
        self.strobe = np.random.default_rng(scene.seed + 2000)
        self.gain, self.gain_left = STROBE_LIGHTS[0], 0

    def _x(self, t: float) -> float:
        s = self.scene
        whips = sum(s.whip_px * _whip_progress((t - w) / WHIP_S) for w in s.whips_s)
        return self.x0 + s.pan_px_per_s * t + whips

    def _crop(self, x: float, dy: int = 0) -> np.ndarray:
        x = int(x) % max(1, self.tex.shape[1] - self.crop_w)
        y0 = (self.tex.shape[0] - self.crop_h) // 2 + dy
        return self.tex[y0:y0 + self.crop_h, x:x + self.crop_w]

    def frame(self, t: float) -> np.ndarray:
        t = max(t, 0.0)
        s = self.scene
        dx = dy = 0
        if s.shake_px:
            dx, dy = self.shake.integers(-int(s.shake_px), int(s.shake_px) + 1, 2).tolist()
        whipping = any(w <= t < w + WHIP_S for w in s.whips_s)
        if whipping:
            # A camera swung this fast smears the picture: average the sweep over a 1/50 s shutter.
            subs = [self._crop(self._x(t + k / (5 * 50)) + self.margin + dx, dy).astype(np.float32)
                    for k in range(5)]
            crop = (sum(subs) / len(subs)).astype(np.uint8)
        else:
            crop = self._crop(self._x(t) + self.margin + dx, dy)
        if crop.shape[0] != self.height or crop.shape[1] != self.width:
            yi = (np.arange(self.height) * crop.shape[0] / self.height).astype(int)
            xi = (np.arange(self.width) * crop.shape[1] / self.width).astype(int)
            crop = crop[yi][:, xi]
        for start in s.objects_s:
            crop = self._object(crop, (t - start) / s.object_cross_s)
        if s.strobe_hold:
            if self.gain_left <= 0:  # the light jumps to a new level and holds it 1..strobe_hold frames
                self.gain = STROBE_LIGHTS[int(self.strobe.integers(len(STROBE_LIGHTS)))]
                self.gain_left = int(self.strobe.integers(1, s.strobe_hold + 1))
            self.gain_left -= 1
            crop = (crop.astype(np.float32) * np.asarray(self.gain, np.float32)).clip(0, 255).astype(np.uint8)
        return crop

    def _object(self, img: np.ndarray, u: float) -> np.ndarray:
        """A checkered board 40 % of the width and 70 % of the height, crossing from left to right."""
        if not 0.0 <= u < 1.0:
            return img
        ow, oh = int(0.4 * self.width), int(0.7 * self.height)
        left = int(-ow + u * (self.width + ow))
        top = (self.height - oh) // 2
        yy, xx = np.mgrid[0:oh, 0:ow]
        square = max(4, self.height // 12)
        board = np.where(((yy // square + xx // square) % 2)[..., None] == 0, 245, 15).astype(np.uint8)
        a, b = max(0, left), min(self.width, left + ow)
        if a >= b:
            return img
        img = img.copy()
        img[top:top + oh, a:b] = board[:, a - left:b - left]
        return img


@functools.lru_cache(maxsize=32)
def _photo(name: str) -> np.ndarray:
    """A photograph bundled in scikit-image's wheel (no download) as RGB uint8."""
    from skimage import data  # test extra: the real photographs behind the photo titles

    img = np.asarray(getattr(data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = (img.astype(np.float32) / max(float(img.max()), 1e-9) * 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


@functools.lru_cache(maxsize=4)
def _grain(width: int, height: int, sigma: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """A few frames of sensor noise, as (add, subtract) uint8 pairs (saturating adds are cheap)."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(3):
        g = rng.standard_normal((height, width, 3), dtype=np.float32) * sigma
        out.append((np.clip(g, 0, 255).astype(np.uint8), np.clip(-g, 0, 255).astype(np.uint8)))
    return tuple(out)


class _PhotoRenderer:
    """A virtual camera over a photograph: a sub-pixel window on the photo, scaled to the frame
    (OpenCV, bilinear). The photographs are smaller than the frame, so nothing is lost."""

    def __init__(self, shot: Photo, width: int, height: int, fps: float):
        import cv2

        self.cv2, self.shot, self.width, self.height, self.fps = cv2, shot, width, height, fps
        self.img = _photo(shot.image)
        ph, pw = self.img.shape[:2]
        self.base_w = min(pw, ph * width / height)  # the widest window of the frame's shape
        self.shake = np.random.default_rng(zlib.crc32(shot.image.encode()) + int(shot.duration_s * 1000))
        self.grain = _grain(width, height, shot.grain) if shot.grain else ()
        self.count = 0

    def _window(self, t: float, jitter: tuple[float, float]) -> tuple[float, float, float]:
        s = self.shot
        ph, pw = self.img.shape[:2]
        w = self.base_w / (s.zoom * np.exp(s.zoom_rate * t))
        h = w * self.height / self.width
        whips = sum(s.whip * float(_whip_progress((t - w0) / WHIP_S)) for w0 in s.whips_s)
        cx = s.center[0] * pw + (s.pan[0] * t + whips + jitter[0]) * w
        cy = s.center[1] * ph + (s.pan[1] * t + jitter[1]) * h
        cx = float(np.clip(cx, w / 2, pw - w / 2))
        cy = float(np.clip(cy, h / 2, ph - h / 2))
        return cx, cy, w

    def _patch(self, cx: float, cy: float, size: tuple[int, int]) -> np.ndarray:
        return self.cv2.getRectSubPix(self.img, size, (cx - 0.5, cy - 0.5))

    def frame(self, t: float) -> np.ndarray:
        t = max(t, 0.0)
        s = self.shot
        jitter = (0.0, 0.0)
        if s.shake:
            jx, jy = self.shake.uniform(-s.shake, s.shake, 2).tolist()
            jitter = (jx, jy * self.width / self.height)  # the same pixels each way
        cx, cy, w = self._window(t, jitter)
        size = (max(2, int(round(w))), max(2, int(round(w * self.height / self.width))))
        if any(w0 <= t < w0 + WHIP_S for w0 in s.whips_s):
            # A camera swung this fast smears the picture: average the sweep over a 1/50 s shutter.
            subs = [self._patch(*self._window(t + k / (5 * 50), jitter)[:2], size).astype(np.uint16)
                    for k in range(5)]
            patch = (sum(subs) // len(subs)).astype(np.uint8)
        else:
            patch = self._patch(cx, cy, size)
        img = self.cv2.resize(patch, (self.width, self.height), interpolation=self.cv2.INTER_LINEAR)
        if not self.grain:
            return img
        plus, minus = self.grain[self.count % len(self.grain)]
        self.count += 1
        return self.cv2.subtract(self.cv2.add(img, plus), minus)


def _plan(timeline: list[TimelineItem], fps: float) -> tuple[list[tuple], int]:
    """Place every item on the frame grid: (item, start_frame, end_frame)."""
    placed, frame = [], 0
    for item in timeline:
        n = int(round(item.duration_s * fps))
        placed.append((item, frame, frame + n))
        frame += n
    return placed, frame


def _is_shot(item: TimelineItem) -> bool:
    return isinstance(item, (Scene, Photo)) or (isinstance(item, Black)
                                                 and item.duration_s >= BLACK_SHOT_MIN_S - 1e-9)


def _same_scene(a: TimelineItem, b: TimelineItem) -> bool:
    """Two framings of one scene: the same photograph, or the same synthetic texture."""
    return ((isinstance(a, Photo) and isinstance(b, Photo) and a.image == b.image)
            or (isinstance(a, Scene) and isinstance(b, Scene) and a.seed == b.seed))


def _moving(item: TimelineItem) -> bool:
    """A shot whose camera moves all along (a boundary inside it is a false one)."""
    if isinstance(item, Photo):
        return bool(item.pan != (0.0, 0.0) or item.zoom_rate or item.shake or item.whips_s)
    if isinstance(item, Scene):
        return bool(item.pan_px_per_s >= 250 or item.whips_s or item.shake_px or item.objects_s
                    or item.strobe_hold)
    return False


def render_truth(timeline: list[TimelineItem], fps: float) -> tuple[list[tuple], Truth]:
    """Place the timeline and derive its ground truth. Scenes, photographs and black stretches of
    at least ``BLACK_SHOT_MIN_S`` are shots; fades, dissolves and shorter black between two shots
    make one gradual transition; two shots that touch meet at a hard cut (the new shot's first
    frame). Transitions before the first shot or after the last belong to that shot."""
    placed, total = _plan(timeline, fps)
    truth = Truth(fps=fps, frame_count=total, duration_s=total / fps, width=0, height=0)
    prev_shot = None
    pending: list[tuple] = []  # transitions since the previous shot
    for item, start, end in placed:
        if isinstance(item, Black):
            truth.black.append({"start_frame": start, "end_frame": end, "shot": _is_shot(item)})
        if not _is_shot(item):
            pending.append((item, start, end))
            continue
        if isinstance(item, (Scene, Photo)):
            for fs in item.flashes_s:
                truth.flashes.append(start + int(round(fs * fps)))
            if _moving(item):
                truth.motion.append({"start_frame": start, "end_frame": end,
                                     "kind": type(item).__name__.lower()})
        if prev_shot is not None:
            if pending:
                kind = "dissolve" if any(isinstance(t, Dissolve) for t, _, _ in pending) else "fade"
                truth.gradual.append({"kind": kind, "start_frame": pending[0][1], "end_frame": pending[-1][2]})
            else:
                truth.cuts.append(start)
                truth.cut_kinds.append("black" if isinstance(item, Black) or isinstance(prev_shot, Black)
                                       else "same_scene" if _same_scene(prev_shot, item) else "plain")
        prev_shot = item
        pending = []
    return placed, truth


def _frames(placed: list[tuple], width: int, height: int, fps: float):
    """Yield RGB frames of the whole timeline, one at a time."""
    scenes = [i for i, (item, _, _) in enumerate(placed) if isinstance(item, (Scene, Photo))]
    renderers = {i: (_PhotoRenderer if isinstance(placed[i][0], Photo) else _SceneRenderer)(
        placed[i][0], width, height, fps) for i in scenes}
    black = np.zeros((height, width, 3), np.uint8)

    def neighbour(i: int, step: int) -> int | None:
        j = i + step
        while 0 <= j < len(placed):
            if isinstance(placed[j][0], (Scene, Photo)):
                return j
            j += step
        return None

    for i, (item, start, end) in enumerate(placed):
        n = max(1, end - start)
        for f in range(start, end):
            k = f - start
            if isinstance(item, (Scene, Photo)):
                img = renderers[i].frame(k / fps)
                if isinstance(item, Scene) and (item.letterbox or item.pillarbox):
                    img = img.copy()
                    bar_h, bar_w = int(round(height * item.letterbox)), int(round(width * item.pillarbox))
                    if bar_h:
                        img[:bar_h], img[height - bar_h:] = 0, 0
                    if bar_w:
                        img[:, :bar_w], img[:, width - bar_w:] = 0, 0
                if any(abs(f - (start + round(s * fps))) <= 0 or f - (start + round(s * fps)) == 1
                       for s in item.flashes_s):
                    img = np.full_like(img, 250)
                yield img
            elif isinstance(item, Black):
                yield black
            elif isinstance(item, FadeOut):
                p = neighbour(i, -1)
                src = renderers[p].frame((placed[p][2] - placed[p][1] + k) / fps) if p is not None else black
                yield (src.astype(np.float32) * (1 - (k + 1) / n)).astype(np.uint8)
            elif isinstance(item, FadeIn):
                q = neighbour(i, 1)
                dst = renderers[q].frame(0) if q is not None else black
                yield (dst.astype(np.float32) * ((k + 1) / (n + 1))).astype(np.uint8)
            elif isinstance(item, Dissolve):
                p, q = neighbour(i, -1), neighbour(i, 1)
                a = renderers[p].frame((placed[p][2] - placed[p][1] + k) / fps) if p is not None else black
                b = renderers[q].frame(0) if q is not None else black
                w = (k + 1) / (n + 1)
                yield (a.astype(np.float32) * (1 - w) + b.astype(np.float32) * w).astype(np.uint8)


# -- audio -----------------------------------------------------------------
def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize_speech(text: str, voice: str = "en", rate_wpm: int = 150,
                      pitch: int | None = None) -> np.ndarray:
    """Real synthetic speech from espeak-ng, as float32 mono at AUDIO_RATE (``pitch`` 0-99: espeak's -p)."""
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        pitch_args = ["-p", str(pitch)] if pitch is not None else []
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), *pitch_args, "-w", str(wav), text],
                       check=True, capture_output=True)
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32)


def render_audio(track: AudioTrack, duration_s: float, track_index: int,
                 truth: Truth | None = None) -> np.ndarray:
    """The whole track as float32 (channels, samples)."""
    total = int(round(duration_s * AUDIO_RATE))
    mono = np.zeros(total, np.float32)
    for event in track.events:
        start = int(round(event.start_s * AUDIO_RATE))
        if isinstance(event, Speech):
            clip = synthesize_speech(event.text, event.voice)
            peak = float(np.abs(clip).max()) or 1.0
            clip = clip / peak * 10 ** (event.gain_db / 20)
            kind = "speech"
        else:
            t = np.arange(int(round(event.duration_s * AUDIO_RATE)), dtype=np.float32) / AUDIO_RATE
            clip = (10 ** (event.level_dbfs / 20) * np.sin(2 * np.pi * event.freq_hz * t)).astype(np.float32)
            kind = "tone"
        clip = clip[: max(0, total - start)]
        mono[start:start + len(clip)] += clip
        if truth is not None:
            record = {"track": track_index, "start_s": start / AUDIO_RATE,
                      "end_s": (start + len(clip)) / AUDIO_RATE}
            if kind == "speech":
                truth.speech.append({**record, "text": event.text, "voice": event.voice})
            else:
                truth.tones.append({**record, "freq_hz": event.freq_hz})
    return np.repeat(mono[None, :], track.channels, axis=0).clip(-1, 1)


# -- writing ---------------------------------------------------------------
def write_title(
    path: Path,
    timeline: list[TimelineItem],
    audio_tracks: list[AudioTrack] = (),
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 25.0,
    video: bool = True,
    vfr: bool = False,
    rotation: int = 0,
    codec: str = "libx264",
    faststart: bool = False,
    preset: str = "veryfast",
) -> Truth:
    """Encode a synthetic title and return (and write ``<path>.truth.json``) its ground truth.

    ``faststart=True`` puts the MP4 index first, as streaming deliveries do.
    ``vfr=True`` alternates frame durations (1/fps·0.5 and 1/fps·1.5) so the
    timestamps, not the frame count, carry time; ``rotation`` (clockwise
    degrees) sets the display matrix as a phone recording would.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    placed, truth = render_truth(timeline, fps)
    truth.width, truth.height = (width, height) if video else (0, 0)
    truth.audio_tracks = len(audio_tracks)
    duration = truth.duration_s if video else max(
        (max((e.start_s + getattr(e, "duration_s", 3.0) for e in t.events), default=1.0)
         for t in audio_tracks), default=1.0)
    truth.duration_s = duration
    audio = [render_audio(t, duration, i, truth) for i, t in enumerate(audio_tracks)]

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as out:
        vstream = None
        if video:
            rate = Fraction(fps).limit_denominator(1001)
            vstream = out.add_stream(codec, rate=rate)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.options = {"preset": preset, "crf": "23", "g": str(int(fps * 2))}
            vstream.codec_context.time_base = Fraction(1, 1000) if vfr else 1 / rate
            if rotation:
                # Prism reports clockwise degrees (the legacy 'rotate' tag); the
                # display matrix counts counter-clockwise.
                vstream.set_display_rotation(-rotation)
        astreams = []
        for track in audio_tracks:
            a = out.add_stream("aac", rate=AUDIO_RATE)
            a.layout = "stereo" if track.channels == 2 else "mono"
            if track.language:
                a.metadata["language"] = track.language
            astreams.append(a)

        # Interleave audio with video a second at a time, as real deliveries are muxed: a
        # one-pass demuxer (over S3 above all) must not find the audio at the end of the file.
        frames_per_flush = max(1, round(fps))
        audio_pos = [0] * len(astreams)

        def _flush_audio(until_s: float) -> None:
            for i, a in enumerate(astreams):
                limit = min(audio[i].shape[1], int(until_s * AUDIO_RATE))
                while audio_pos[i] < limit:
                    n = min(1024 * 8, limit - audio_pos[i])
                    data = np.ascontiguousarray(audio[i][:, audio_pos[i]:audio_pos[i] + n])
                    frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=a.layout.name)
                    frame.sample_rate = AUDIO_RATE
                    frame.pts = audio_pos[i]
                    frame.time_base = Fraction(1, AUDIO_RATE)
                    audio_pos[i] += n
                    for packet in a.encode(frame):
                        out.mux(packet)

        if vstream is not None:
            t_ms = 0
            for n, img in enumerate(_frames(placed, width, height, fps)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                if vfr:
                    frame.pts = t_ms
                    frame.time_base = Fraction(1, 1000)
                    t_ms += int(round(1000 / fps * (0.5 if n % 2 == 0 else 1.5)))
                else:
                    frame.pts = n
                for packet in vstream.encode(frame):
                    out.mux(packet)
                if n % frames_per_flush == 0:
                    _flush_audio(n / fps + 1.0)
            for packet in vstream.encode():
                out.mux(packet)
            if vfr:
                truth.duration_s = t_ms / 1000
        _flush_audio(duration + 1.0)
        for a in astreams:
            for packet in a.encode():
                out.mux(packet)
    path.with_name(path.name + ".truth.json").write_text(truth.to_json())
    return truth


def sample_title(path: Path, *, width: int = 640, height: int = 360, fps: float = 25.0) -> Truth:
    """The demo title: cuts (including a punch-in), a fade through a black gap, a dissolve,
    a flash inside a shot, real speech on an English track and a long silent stretch."""
    timeline: list[TimelineItem] = [
        Scene(seed=1, duration_s=6.0),
        Scene(seed=2, duration_s=5.0, pan_px_per_s=30),
        Scene(seed=2, duration_s=4.0, zoom=1.6),  # punch-in on the same scene
        Scene(seed=3, duration_s=4.0),
        FadeOut(0.8), Black(2.0), FadeIn(0.8),
        Scene(seed=4, duration_s=6.0, flashes_s=(3.0,)),
        Dissolve(1.2),
        Scene(seed=5, duration_s=5.0),
        Scene(seed=6, duration_s=5.0),
    ]
    english = AudioTrack(language="eng", events=(
        Speech("Welcome to Prism. Every title becomes shots, keyframes and transcripts.", 1.0),
        Speech("The quick brown fox jumps over the lazy dog.", 11.5),
        # 17 s – 26 s stays silent: the fade, the black gap and a quiet shot.
        Speech("This is the final scene of the sample title.", 32.0),
    ))
    return write_title(path, timeline, [english], width=width, height=height, fps=fps)
