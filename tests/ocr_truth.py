"""Test titles with on-screen text of known content, place and timing.

Real photographs that ship inside scikit-image (``skimage.data``) are the backgrounds; Korean and
English text is drawn on them with Debian's NanumGothic and DejaVu fonts (Pillow) and the frames
are encoded to H.264 with PyAV. Every drawn line is recorded as a :class:`TruthLine` with its
frame-exact first and last+1 frame, its category and its script, so tests can measure event
recall, false events, character error rates and boundary accuracy against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
NANUM_BOLD = Path("/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    if not path.exists():  # DejaVu Bold is not in fonts-dejavu-core everywhere
        path = {DEJAVU_BOLD: DEJAVU, NANUM_BOLD: NANUM}.get(path, path)
    return ImageFont.truetype(str(path), size)


def photo(name: str, width: int, height: int) -> Image.Image:
    """A scikit-image sample photograph, cropped to the aspect and resized."""
    from skimage import data

    array = getattr(data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    image = Image.fromarray(array[:, :, :3])
    aspect = width / height
    w, h = image.size
    if w / h > aspect:
        nw = int(h * aspect)
        image = image.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    else:
        nh = int(w / aspect)
        image = image.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
    return image.resize((width, height), Image.Resampling.LANCZOS)


@dataclass
class TruthLine:
    text: str
    start_frame: int
    end_frame: int  # exclusive
    category: str  # clean | busy | subtitle | sign | credit
    script: str  # Hang | Latn
    xy: tuple[int, int] = (0, 0)
    font_path: Path = DEJAVU
    size: int = 24
    style: str = "panel"  # panel (dark on a light card) | outline (white, black outline) | plain
    fill: tuple[int, int, int] = (20, 20, 20)
    anchor: str = "la"
    roll_px_per_frame: float = 0.0  # rolling credits move up

    def position(self, frame: int) -> tuple[float, float]:
        x, y = self.xy
        return x, y - self.roll_px_per_frame * (frame - self.start_frame)


@dataclass
class TruthShot:
    start_frame: int
    end_frame: int
    background: str  # a skimage.data name, or "black"
    pan_px_per_frame: float = 0.0


@dataclass
class TruthTitle:
    path: Path
    fps: int
    width: int
    height: int
    frame_count: int
    shots: list[TruthShot]
    lines: list[TruthLine] = field(default_factory=list)
    text_free: list[tuple[int, int]] = field(default_factory=list)  # frame ranges with no text

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


def _draw_line(draw: ImageDraw.ImageDraw, line: TruthLine, frame: int) -> None:
    f = font(line.font_path, line.size)
    x, y = line.position(frame)
    if line.style == "panel":
        box = draw.textbbox((x, y), line.text, font=f, anchor=line.anchor)
        pad = max(line.size // 3, 4)
        draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(238, 236, 228))
        draw.text((x, y), line.text, font=f, fill=line.fill, anchor=line.anchor)
    elif line.style == "outline":
        draw.text((x, y), line.text, font=f, fill=(255, 255, 255), anchor=line.anchor,
                  stroke_width=max(2, line.size // 12), stroke_fill=(0, 0, 0))
    else:
        draw.text((x, y), line.text, font=f, fill=line.fill, anchor=line.anchor)


def render_title(path: Path, shots: list[TruthShot], lines: list[TruthLine], *, fps: int = 25,
                 width: int = 640, height: int = 360, gop: int = 50) -> TruthTitle:
    """Encode the title: each shot's background with the lines on screen at each frame."""
    frame_count = shots[-1].end_frame
    backgrounds: dict[str, Image.Image] = {}
    for shot in shots:
        if shot.background not in backgrounds:
            if shot.background == "black":
                backgrounds[shot.background] = Image.new("RGB", (width, height), (0, 0, 0))
            else:
                pan_room = int(shot.pan_px_per_frame * (shot.end_frame - shot.start_frame)) + 1
                backgrounds[shot.background] = photo(shot.background, width + pan_room, height)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(gop), "bf": "2"}
        cache: tuple[tuple, np.ndarray] | None = None
        for shot in shots:
            bg = backgrounds[shot.background]
            for frame in range(shot.start_frame, shot.end_frame):
                active = [ln for ln in lines if ln.start_frame <= frame < ln.end_frame]
                moving = shot.pan_px_per_frame or any(ln.roll_px_per_frame for ln in active)
                key = (shot.background, tuple(id(ln) for ln in active))
                if moving or cache is None or cache[0] != key:
                    ox = int(shot.pan_px_per_frame * (frame - shot.start_frame))
                    image = bg.crop((ox, 0, ox + width, height)).copy()
                    draw = ImageDraw.Draw(image)
                    for ln in active:
                        _draw_line(draw, ln, frame)
                    cache = (key, np.asarray(image))
                video_frame = av.VideoFrame.from_ndarray(cache[1], format="rgb24")
                for packet in stream.encode(video_frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return TruthTitle(path, fps, width, height, frame_count, shots, lines)


def standard_title(path: Path) -> TruthTitle:
    """About 50 s at 640x360, 25 fps, six shots:

    1. coffee: clean dark-on-card text, English from the first frame, Korean appearing mid-shot;
    2. chelsea: outlined white subtitles, bottom centre, Korean and English, changing every 2-3 s
       at frames between the 1 s samples;
    3. astronaut: outlined text straight over the busy photograph (no card), Korean and English;
    4. coffee again, small sign text (about 14 px) on cards;
    5. black: rolling credits (Korean and English names moving up);
    6. rocket, panning: 14 s with no text at all.
    """
    fps = 25
    s = [0, 200, 400, 560, 700, 900, 1250]
    shots = [
        TruthShot(s[0], s[1], "coffee"),
        TruthShot(s[1], s[2], "chelsea"),
        TruthShot(s[2], s[3], "astronaut"),
        TruthShot(s[3], s[4], "coffee"),
        TruthShot(s[4], s[5], "black"),
        TruthShot(s[5], s[6], "rocket", pan_px_per_frame=0.6),
    ]
    sub = dict(category="subtitle", xy=(320, 322), style="outline", size=26, anchor="mm")
    lines = [
        # 1. clean text
        TruthLine("OPEN DAILY FROM NINE", 0, s[1], "clean", "Latn", xy=(40, 40), size=26),
        TruthLine("부산 해운대 시장", 87, s[1], "clean", "Hang", xy=(40, 120), font_path=NANUM, size=28),
        TruthLine("Fresh coffee and bread", 137, s[1], "clean", "Latn", xy=(40, 200), size=24),
        # 2. subtitles changing every 2-3 s, off the sample grid
        TruthLine("어디 가는 거야?", 211, 273, script="Hang", font_path=NANUM_BOLD, **sub),
        TruthLine("Where are you going tonight?", 273, 336, script="Latn", font_path=DEJAVU_BOLD, **sub),
        TruthLine("집에 가고 싶어", 343, 397, script="Hang", font_path=NANUM_BOLD, **sub),
        # 3. busy background
        TruthLine("우주에서 돌아온 날", 400, s[3], "busy", "Hang", xy=(320, 60), font_path=NANUM_BOLD,
                  size=30, style="outline", anchor="mm"),
        TruthLine("Return from orbit", 455, s[3], "busy", "Latn", xy=(320, 170), font_path=DEJAVU_BOLD,
                  size=30, style="outline", anchor="mm"),
        # 4. small sign text
        TruthLine("SEOUL STATION", s[3], s[4], "sign", "Latn", xy=(420, 60), size=14),
        TruthLine("서울역 2번 출구", s[3], s[4], "sign", "Hang", xy=(60, 250), font_path=NANUM, size=15),
    ]
    # 5. rolling credits on black: enter at the bottom, leave at the top
    roll = 1.2  # px per frame
    names = [("감독 김민수", "Hang", NANUM), ("Director Kim Minsu", "Latn", DEJAVU),
             ("촬영 이서연", "Hang", NANUM), ("Camera Lee Seoyeon", "Latn", DEJAVU)]
    for k, (text, script, path_) in enumerate(names):
        start = s[4] + k * 30
        lines.append(TruthLine(text, start, s[5], "credit", script, xy=(320, 360 + 10), font_path=path_,
                               size=24, style="plain", fill=(235, 235, 235), anchor="mt",
                               roll_px_per_frame=roll))
    title = render_title(path, shots, lines, fps=fps)
    title.text_free = [(s[5], s[6])]
    # A rolling line is on screen only while inside the frame.
    for ln in title.lines:
        if ln.roll_px_per_frame:
            leaves = ln.start_frame + int((ln.xy[1] + 30) / ln.roll_px_per_frame)
            ln.end_frame = min(ln.end_frame, leaves)
    return title


def short_title(path: Path) -> TruthTitle:
    """8 s at 640x360: a sign appearing mid-shot, then a cut to a shot with two subtitles."""
    shots = [TruthShot(0, 100, "coffee"), TruthShot(100, 200, "chelsea")]
    sub = dict(category="subtitle", xy=(320, 322), style="outline", size=26, anchor="mm", font_path=NANUM_BOLD,
               script="Hang")
    lines = [
        TruthLine("부산 해운대 시장", 31, 100, "clean", "Hang", xy=(40, 60), font_path=NANUM, size=28),
        TruthLine("어디 가는 거야?", 110, 160, **sub),
        TruthLine("집에 가고 싶어", 160, 200, **sub),
    ]
    return render_title(path, shots, lines)
