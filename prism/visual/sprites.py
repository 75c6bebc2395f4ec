"""Thumbnail sprite sheets + a WebVTT thumbnails track (what web players use for scrubbing).

Tiles are sampled during the decode pass at a fixed interval; a sheet is written
as soon as it is full, so memory holds one sheet whatever the title's length.
Each VTT cue points at its tile with a media fragment: ``sprite_000.jpg#xywh=x,y,w,h``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SPRITE_DIR = "thumbnails"
VTT_NAME = "thumbnails.vtt"
RAW_TILES, RAW_INDEX = "tiles.rgb", "tiles.json"


def vtt_timestamp(seconds: float) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def tile_size(display_w: int, display_h: int, tile_width: int) -> tuple[int, int]:
    """Tile width x height keeping the display aspect ratio (even height)."""
    height = max(2, int(round(tile_width * display_h / max(display_w, 1) / 2)) * 2)
    return tile_width, height


@dataclass
class Tile:
    time_s: float
    sheet: int
    x: int
    y: int


@dataclass
class SpriteWriter:
    """Collects tiles into ``columns x rows`` JPEG sheets under ``directory``.

    With ``raw``, the tiles themselves are kept instead (``tiles.rgb`` and ``tiles.json`` in
    ``directory``): a segment of the pass writes them so that the joined pass lays out and encodes
    the sheets exactly as one pass does (:func:`join_raw_tiles`).
    """

    directory: Path
    tile_w: int
    tile_h: int
    columns: int = 10
    rows: int = 10
    quality: int = 80
    raw: bool = False
    tiles: list[Tile] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    _sheet: np.ndarray | None = None
    _filled: int = 0
    _raw_file: object = None

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    def add(self, time_s: float, rgb: np.ndarray) -> None:
        """``rgb``: an (tile_h, tile_w, 3) uint8 image already in display orientation."""
        if self.raw:
            if self._raw_file is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._raw_file = open(self.directory / RAW_TILES, "wb")  # noqa: SIM115 - closed in finish
            self._raw_file.write(np.ascontiguousarray(rgb[: self.tile_h, : self.tile_w]).tobytes())
            self.tiles.append(Tile(time_s, -1, 0, 0))
            return
        if self._sheet is None:
            self._sheet = np.zeros((self.rows * self.tile_h, self.columns * self.tile_w, 3), np.uint8)
        slot = self._filled
        x, y = (slot % self.columns) * self.tile_w, (slot // self.columns) * self.tile_h
        self._sheet[y:y + self.tile_h, x:x + self.tile_w] = rgb[: self.tile_h, : self.tile_w]
        self.tiles.append(Tile(time_s, len(self.sheets), x, y))
        self._filled += 1
        if self._filled == self.per_sheet:
            self._flush()

    def _flush(self) -> None:
        if self._sheet is None or self._filled == 0:
            return
        used_rows = -(-self._filled // self.columns)
        used_cols = self.columns if used_rows > 1 else self._filled
        image = self._sheet[: used_rows * self.tile_h, : used_cols * self.tile_w]
        name = f"sprite_{len(self.sheets):03d}.jpg"
        self.directory.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(self.directory / name, quality=self.quality, optimize=True)
        self.sheets.append(name)
        self._sheet, self._filled = None, 0

    def finish(self, duration_s: float) -> str:
        """Write the last sheet; return the VTT text (sheet paths relative to the title dir)."""
        if self.raw:
            if self._raw_file is not None:
                self._raw_file.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / RAW_INDEX).write_text(json.dumps(
                {"tile_w": self.tile_w, "tile_h": self.tile_h, "times": [t.time_s for t in self.tiles]}))
            return ""
        self._flush()
        lines = ["WEBVTT", ""]
        for i, tile in enumerate(self.tiles):
            end = self.tiles[i + 1].time_s if i + 1 < len(self.tiles) else max(duration_s, tile.time_s)
            if end <= tile.time_s:
                continue
            lines += [f"{vtt_timestamp(tile.time_s)} --> {vtt_timestamp(end)}",
                      f"{SPRITE_DIR}/{self.sheets[tile.sheet]}#xywh={tile.x},{tile.y},{self.tile_w},{self.tile_h}",
                      ""]
        return "\n".join(lines)


def join_raw_tiles(parts: list[Path], writer: SpriteWriter) -> None:
    """Add the raw tiles of ``parts`` (directories written with ``raw``), in order, to ``writer``."""
    for part in parts:
        index = json.loads((part / RAW_INDEX).read_text())
        if not index["times"]:
            continue
        tiles = np.memmap(part / RAW_TILES, np.uint8, mode="r",
                          shape=(len(index["times"]), index["tile_h"], index["tile_w"], 3))
        for time_s, tile in zip(index["times"], tiles, strict=True):
            writer.add(time_s, np.asarray(tile))
        del tiles


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """(start_s, end_s, target) per cue: used by checks and tests."""
    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    cues, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if "-->" in line:
            start, end = (p.strip() for p in line.split("-->"))
            cues.append((seconds(start), seconds(end), lines[i + 1].strip()))
    return cues
