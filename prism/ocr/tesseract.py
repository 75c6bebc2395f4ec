"""Reading Korean (and English) lines with Tesseract (Debian ``tesseract-ocr-kor`` / ``-eng``).

Tesseract reads clean dark-on-light lines of about 30-60 px well and almost nothing else, so
every crop is prepared first (:func:`prepare_line`): upscaled to a working height, the text's
pixels separated from the background and written black on white. Outlined white subtitles are
the hard case: binarising by brightness alone keeps the busy background and the outline; a
mask of bright, colourless pixels next to dark ones (the fill), cleaned by a 3x3 median, keeps
only the letters. Other text is binarised by Otsu's threshold, ink being the minority class in
the line's middle; ink touching the crop's edge (the picture around the line) is dropped. The
prepared versions are read in turn until one is read surely; the most confident reading wins.

Tesseract runs in-process through ``tesserocr`` (its wheel carries libtesseract; the language
data is Debian's): the Korean and English models are loaded once per reader and a prepared line
reads in about 0.02 s. A ``tesseract`` subprocess per line spent 0.15-0.2 s of CPU loading the
language data each time, eight times the reading itself.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from prism.ocr.base import Box, TextLine, normalize_text, script_of

WORK_HEIGHT = 56  # px of line height Tesseract reads best at (x-height about 20-30 px)
PAD = 12


class TesseractUnavailable(RuntimeError):
    """The tesseract binary or a language's data is missing."""


def _otsu(gray: np.ndarray) -> float:
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128.0
    levels = np.arange(256)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * levels)
    mean_all = m0[-1] / total
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean_all * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = 0
    return float(np.argmax(between))


def _border(mask: np.ndarray, width: int = 2) -> np.ndarray:
    return np.concatenate([mask[:width].ravel(), mask[-width:].ravel(), mask[:, :width].ravel(),
                           mask[:, -width:].ravel()])


def outlined_fill_mask(rgb: np.ndarray) -> np.ndarray | None:
    """The fill of outlined (white on black outline) text: bright, colourless pixels close to
    dark ones. A bright background (a sky, a face) is far from the outline except at its edges,
    which the 3x3 median and the edge-blob removal take away. None when there is no such fill."""
    rgb = rgb.astype(np.int16)
    low, high = rgb.min(axis=2), rgb.max(axis=2)
    bright = (low >= 185) & (high - low <= 45)
    dark = high <= 80
    if not dark.any() or not bright.any():
        return None
    reach = max(2, int(round(0.12 * rgb.shape[0])))
    near_dark = ndimage.binary_dilation(dark, iterations=reach)
    mask = bright & near_dark
    share = mask.mean()
    if not 0.03 <= share <= 0.6:
        return None
    return mask


def _drop_border_blobs(ink: np.ndarray) -> np.ndarray:
    """Ink touching the crop's edge is the picture around the line, not its letters (the
    detector's boxes leave a margin around the text)."""
    labels, count = ndimage.label(ink)
    if count == 0:
        return ink
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    if len(edge) == 0:
        return ink
    kept = ink & ~np.isin(labels, edge)
    # Never erase everything: a line cropped tight to its letters keeps its ink.
    return kept if kept.sum() >= 0.05 * ink.sum() else ink


def _as_image(ink: np.ndarray) -> Image.Image:
    out = np.where(_drop_border_blobs(ink), 0, 255).astype(np.uint8)
    return Image.fromarray(np.pad(out, PAD, constant_values=255))


def prepare_line(rgb: np.ndarray) -> list[Image.Image]:
    """Binarised versions of a line crop for Tesseract, most likely first: upscaled to
    WORK_HEIGHT, black text on white, padded. Outlined white text's fill when there is one;
    then Otsu's classes, the minority one in the line's middle as ink first (strokes are thin;
    the box's edges may hold a card's rim or the picture around it, so they do not decide)."""
    h, w = rgb.shape[:2]
    scale = WORK_HEIGHT / max(h, 1)
    size = (max(int(round(w * scale)), 1), WORK_HEIGHT)
    image = Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.Resampling.BICUBIC)
    up = np.asarray(image)
    candidates = []
    fill = outlined_fill_mask(up)
    if fill is not None:
        cleaned = Image.fromarray((fill * 255).astype(np.uint8)).filter(ImageFilter.MedianFilter(3))
        candidates.append(_as_image(np.asarray(cleaned) > 127))
    gray = np.asarray(image.convert("L"))
    dark = gray < _otsu(gray)
    hh, ww = dark.shape
    middle = dark[hh // 4:hh - hh // 4, ww // 10:ww - ww // 10]
    first = dark if middle.mean() <= 0.5 else ~dark
    candidates.append(_as_image(first))
    candidates.append(_as_image(~first))
    return candidates


def tessdata_dir(languages: str = "kor+eng") -> Path | None:
    """The folder holding every language's ``.traineddata`` (``TESSDATA_PREFIX``, else Debian's
    ``/usr/share/tesseract-ocr/*/tessdata``); None when a language is missing."""
    candidates = [os.environ["TESSDATA_PREFIX"]] if os.environ.get("TESSDATA_PREFIX") else []
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata"]
    for folder in map(Path, candidates):
        if all((folder / f"{lang}.traineddata").is_file() for lang in languages.split("+")):
            return folder
    return None


def tesseract_available(languages: str = "kor+eng") -> bool:
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return tessdata_dir(languages) is not None


def parse_tsv(tsv: str) -> tuple[str, float]:
    """Text and mean word confidence (0-1) from Tesseract's TSV output. Tesseract often splits a
    Korean word into its syllables; words closer than a third of their height are joined."""
    words: list[tuple[str, int, int, int]] = []  # text, left, right, height
    confs = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        conf = float(cols[10])
        if text and conf >= 0:
            left, width, height = int(cols[6]), int(cols[8]), int(cols[9])
            words.append((text, left, left + width, height))
            confs.append(conf)
    if not words:
        return "", 0.0
    heights = sorted(w[3] for w in words)
    join_gap = heights[len(heights) // 2] / 3
    out = words[0][0]
    for (_, _, prev_right, _), (text, left, _, _) in zip(words, words[1:], strict=False):
        out += ("" if left - prev_right < join_gap else " ") + text
    return out, float(np.mean(confs)) / 100.0


class TesseractReader:
    """A :class:`~prism.ocr.base.TextReader` over libtesseract (``tesserocr``), one line per box.
    The models are loaded once, here; calls are serialised (a Tesseract handle is not shared
    between threads)."""

    def __init__(self, languages: str = "kor+eng", *, sure: float = 0.85):
        folder = tessdata_dir(languages)
        try:
            import tesserocr
        except ImportError:
            folder = None
        if folder is None:
            raise TesseractUnavailable(
                f"tesseract with languages {languages!r} is not installed (the tesserocr package, and "
                "Debian " + " ".join(f"tesseract-ocr-{lang}" for lang in languages.split("+"))
                + "; scripts/setup.sh installs them)")
        # psm 7: the image is one text line; oem 1: the LSTM recogniser only (the legacy engine's
        # data is not loaded); the TSV carries per-word confidences.
        self._api = tesserocr.PyTessBaseAPI(path=f"{folder}/", lang=languages, psm=tesserocr.PSM.SINGLE_LINE,
                                            oem=tesserocr.OEM.LSTM_ONLY)
        self._lock = threading.Lock()
        self.languages = languages
        self.sure = sure
        self.name = f"tesseract-{languages}"

    def read_crop(self, rgb: np.ndarray) -> tuple[str, float]:
        """The best reading of the crop's prepared versions (stops at the first sure one)."""
        if rgb.size == 0:
            return "", 0.0
        best = ("", 0.0)
        for image in prepare_line(rgb):
            text, conf = self._run(image)
            if conf > best[1]:
                best = (text, conf)
            if conf >= self.sure:
                break
        return best

    def _run(self, image: Image.Image) -> tuple[str, float]:
        with self._lock:
            self._api.SetImage(image)
            if not self._api.Recognize():
                raise RuntimeError("tesseract could not recognise a line image")
            tsv = self._api.GetTSVText(0)
        text, conf = parse_tsv("level\n" + tsv)  # (the API's TSV has no header row)
        return normalize_text(text), conf

    def read(self, image: np.ndarray, boxes: Sequence[Box]) -> list[TextLine]:
        lines = []
        for box in boxes:
            text, conf = self.read_crop(box.crop(image))
            lines.append(TextLine(box, text, script_of(text), conf, self.name))
        return lines
