"""Regression: something appearing on part of a still or slowly panning shot is no cut.

A caption card, a logo or an object entering changes a few cells of the 48x27 frames once; on a
still shot the steps around it change nothing, so the step stands far above its neighbours. The
CPU detector must still keep the shot (issue 13: objects crossing must not cut) and find the real
cut to another photograph. Titles: real skimage photographs, H.264, 640x360 at 25 fps.
"""

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from prism.visual.decode import run_pass
from prism.visual.shots import ContentShotDetector, batches_from_parquet

FPS, WIDTH, HEIGHT = 25, 640, 360
APPEAR, CUT, FRAMES = 31, 75, 110
NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")


def _photo(name: str, width: int) -> Image.Image:
    """A skimage photograph cropped to width x HEIGHT's aspect and resized."""
    image = Image.fromarray(getattr(data, name)()[:, :, :3])
    w, h = image.size
    nh = int(w * HEIGHT / width)
    if nh <= h:
        image = image.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
    else:
        nw = int(h * width / HEIGHT)
        image = image.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    return image.resize((width, HEIGHT), Image.Resampling.LANCZOS)


def _overlay(draw: ImageDraw.ImageDraw, what: str, frame: int) -> None:
    if what == "caption":  # a sign line on a light card, ~28 px Korean text
        font = ImageFont.truetype(str(NANUM), 28) if NANUM.exists() else ImageFont.load_default(28)
        box = draw.textbbox((40, 60), "부산 해운대 시장", font=font)
        draw.rectangle((box[0] - 9, box[1] - 9, box[2] + 9, box[3] + 9), fill=(238, 236, 228))
        draw.text((40, 60), "부산 해운대 시장", font=font, fill=(20, 20, 20))
    elif what == "logo":  # a bright station logo in the corner
        draw.rectangle((500, 20, 620, 80), fill=(240, 240, 40))
        draw.ellipse((515, 30, 555, 70), fill=(30, 60, 200))
    elif what == "object":  # a red ball entering from the right
        x = WIDTH - (frame - APPEAR) * 6
        draw.ellipse((x, 150, x + 90, 240), fill=(200, 30, 30))


def _title(path: Path, what: str, pan_px: int) -> None:
    first = _photo("coffee", WIDTH + pan_px * CUT + 1)
    second = _photo("chelsea", WIDTH)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": "50", "bf": "2"}
        for frame in range(FRAMES):
            if frame < CUT:
                image = first.crop((pan_px * frame, 0, pan_px * frame + WIDTH, HEIGHT))
                if frame >= APPEAR:
                    _overlay(ImageDraw.Draw(image), what, frame)
            else:
                image = second
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("what", ["caption", "logo", "object"])
@pytest.mark.parametrize("pan_px", [0, 2], ids=["still", "panning"])
def test_something_appearing_on_part_of_a_shot_is_no_cut(tmp_path, what, pan_px):
    media = tmp_path / "title.mp4"
    _title(media, what, pan_px)
    run_pass(str(media), tmp_path / "signals.parquet", tmp_path / "sprites")
    boundaries = ContentShotDetector().detect(batches_from_parquet(tmp_path / "signals.parquet"), FPS)
    assert [(b.frame, b.kind) for b in boundaries] == [(CUT, "cut")]
