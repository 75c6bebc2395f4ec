"""PP-OCR through ``rapidocr`` (ONNX weights inside its wheel): text detection, and reading of
Latin (and Chinese/Japanese) lines. Its recogniser has no Korean: it reads Hangul as Chinese
characters with a low score, which is how :class:`~prism.ocr.readers.ScriptRoutedReader` knows
to hand a line to Tesseract.

Detection is most of the cost of on-screen text (about 0.4-0.8 s of one CPU thread for a 1080p
frame at the default 960 px side), and most sampled frames hold no text, or the same text as the
sample before. So :class:`RapidDetector` runs the PP-OCR detector in two passes: a *gate* pass on
the whole picture at half the detector's scale (a quarter of the pixels, a quarter of the
cost), whose probability map says where text may be; then the full-scale pass only on those
regions (none: the frame is *gated*, no second pass). :class:`ChangeAwareDetector` goes further
for pictures that repeat: it compares the picture with the last one of the same size in 8x8 px
blocks and detects only where it changed, keeping the earlier boxes elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from prism.ocr.base import Box, Detection, TextDetector, TextLine, normalize_text, script_of

DETECTION_MODEL = "PP-OCRv6_det_small.onnx"


def _engine(limit_side_len: int, threads: int):
    from rapidocr import RapidOCR

    engine = RapidOCR(params={
        "Global.log_level": "error",
        "Global.use_cls": False,
        "Det.limit_type": "max",
        "Det.limit_side_len": limit_side_len,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    })
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


def model_path(name: str) -> Path:
    """A model file shipped inside the rapidocr wheel."""
    import rapidocr

    path = Path(rapidocr.__file__).parent / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not in the rapidocr package ({path})")
    return path


def onnx_session(path: Path, *, threads: int = 1, providers: Sequence[str] = ("CPUExecutionProvider",)):
    """An ONNX Runtime session for one model: ``threads`` intra-op threads (one per model keeps a
    CPU task's cores for the decode and the other assets), all graph optimisations. ``providers``
    e.g. ``("CUDAExecutionProvider", "CPUExecutionProvider")`` on a GPU worker (needs the
    onnxruntime-gpu build)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))


def _boxes(points: np.ndarray | None, scores, width: int, height: int) -> list[Detection]:
    if points is None or len(points) == 0:
        return []
    out = []
    for quad, score in zip(points, scores, strict=False):
        quad = np.asarray(quad, dtype=np.float64)
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), width), min(int(y1), height)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            out.append(Detection(Box(x0, y0, x1 - x0, y1 - y0), float(score)))
    out.sort(key=lambda d: (d.box.y, d.box.x))
    return out


def _shifted(detections: Sequence[Detection], dx: int, dy: int) -> list[Detection]:
    return [Detection(d.box.shifted(dx, dy), d.score) for d in detections]


def _merge(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes joined until none overlap."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if boxes[i].intersection(boxes[j]) > 0:
                    boxes[i] = boxes[i].union(boxes.pop(j))
                    merged = True
                    break
            if merged:
                break
    return boxes


def _aligned(region: Box, sx: float, sy: float, width: int, height: int) -> Box:
    """The region grown (about its centre, inside the frame) so that at the detector's scale
    ``sx``/``sy`` each side is a whole multiple of 32 px: the crop is then resized by the same
    factors as the whole picture, and its boxes match the whole picture's."""
    def side(start: int, length: int, scale: float, limit: int) -> tuple[int, int]:
        # (a side already within 5 % of a step of a multiple stays: aligning is idempotent)
        steps = max(int(np.ceil(length * scale / 32 - 0.05)), 1)
        want = min(max(int(round(steps * 32 / scale)), length), limit)
        start = min(max(start - (want - length) // 2, 0), limit - want)
        return start, want

    x, w = side(region.x, region.w, sx, width)
    y, h = side(region.y, region.h, sy, height)
    return Box(x, y, w, h)


def _layout(boxes: Sequence[Box], sx: float, sy: float, width: int, height: int) -> list[Box]:
    """The boxes aligned (see :func:`_aligned`) and merged until none overlap (a line in two
    overlapping regions would be found twice)."""
    out = _merge([_aligned(b, sx, sy, width, height) for b in boxes])
    while True:
        again = _merge([_aligned(b, sx, sy, width, height) for b in out])
        if again == out:
            return out
        out = again


def _distinct(detections: Sequence[Detection]) -> list[Detection]:
    """Top to bottom, a line found twice (by two overlapping regions) once: the surer finding."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(d.box.overlap(k.box) >= 0.5 and d.box.iou(k.box) >= 0.5 for k in kept):
            kept.append(d)
    kept.sort(key=lambda d: (d.box.y, d.box.x))
    return kept


def _touches_inner_edge(detections: Sequence[Detection], region: Box, width: int, height: int,
                        margin: int = 2) -> bool:
    """Does a box found in ``region`` reach one of its edges that is not the frame's edge (a line
    that may go on outside the region)?"""
    for d in detections:
        b = d.box
        if ((b.x <= margin and region.x > 0) or (b.y <= margin and region.y > 0)
                or (b.x + b.w >= region.w - margin and region.x + region.w < width)
                or (b.y + b.h >= region.h - margin and region.y + region.h < height)):
            return True
    return False


class RapidDetector:
    """PP-OCRv6 (small) text detection. ``limit_side_len``: the longer side is scaled down to
    this before detection (960 keeps 1080p text down to ~14 px tall and costs a quarter of a
    full-resolution pass).

    ``gate``: first run the detector on the whole picture at half that scale, and the full-scale
    pass only on the regions where the gate's text probability passes ``gate_threshold`` (padded
    by twice the candidate's height, aligned to the detector's 32 px grid; candidates over more
    than ``max_region_share`` of the picture, or a line found touching a region's inner edge, send
    the whole picture to the full-scale pass). Measured on 1080p photographs: 16 px text (and
    12 px text on cards or outlined) still lights the gate; plain 12 px text over a busy
    background can be lost. Pictures smaller than ``gate_min_pixels`` at the detector's scale
    skip the gate (the full pass is as cheap). ``stats`` counts what happened: ``frames``,
    ``gated`` (no second pass), ``regions`` (full-scale passes on regions), ``full`` (full-scale
    passes on the whole picture; ``full_small``/``full_wide``/``full_edge`` say why).

    :meth:`detect_within` detects parts of a picture at the whole picture's scale (the
    change-aware detector's changed regions; the refinement's line regions could use it too)."""

    def __init__(self, *, limit_side_len: int = 960, threads: int = 1, gate: bool = True,
                 gate_threshold: float = 0.3, gate_min_pixels: int = 320 * 320, max_region_share: float = 0.5,
                 providers: Sequence[str] = ("CPUExecutionProvider",)):
        from rapidocr.ch_ppocr_det.utils import DBPostProcess

        self.session = onnx_session(model_path(DETECTION_MODEL), threads=threads, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        # rapidocr's own post-processing, at its defaults for this model.
        self.post = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6,
                                  use_dilation=True, score_mode="fast")
        self.limit_side_len = limit_side_len
        self.gate = gate
        self.gate_threshold = gate_threshold
        self.gate_min_pixels = gate_min_pixels
        self.max_region_share = max_region_share
        self.stats: Counter = Counter()
        self.name = f"ppocrv6-det-{limit_side_len}" + ("-gated" if gate else "")

    @staticmethod
    def input_size(h: int, w: int, scale: float) -> tuple[int, int]:
        """The detector's input size for a ``h`` x ``w`` picture at ``scale`` (each side rounded
        to a multiple of 32, as PP-OCR needs)."""
        return max(int(round(h * scale / 32)) * 32, 32), max(int(round(w * scale / 32)) * 32, 32)

    def probability(self, bgr: np.ndarray, scale: float, size: tuple[int, int] | None = None) -> np.ndarray:
        """The detector's text probability map of the picture scaled by ``scale`` (or to ``size``,
        height and width)."""
        h, w = bgr.shape[:2]
        rh, rw = size or self.input_size(h, w, scale)
        resized = cv2.resize(bgr, (rw, rh)) if (rh, rw) != (h, w) else bgr
        x = (resized.astype(np.float32) * (2 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0][0, 0]

    def _full(self, bgr: np.ndarray, scale: float, sx: float | None = None, sy: float | None = None
              ) -> list[Detection]:
        h, w = bgr.shape[:2]
        size = None if sx is None or sy is None else (max(int(round(h * sy / 32)) * 32, 32),
                                                      max(int(round(w * sx / 32)) * 32, 32))
        prob = self.probability(bgr, scale, size)
        points, scores = self.post(prob[None, None], (h, w))
        return _boxes(points, scores, w, h)

    def detect(self, image: np.ndarray) -> list[Detection]:
        found = self.detect_within(image, None)
        assert found is not None  # (the whole picture has no inner edge)
        return found

    def detect_within(self, image: np.ndarray, areas: Sequence[Box] | None) -> list[Detection] | None:
        """The lines inside ``areas`` of the picture (None: all of it), found at the scale the
        whole picture is detected at. None when a line reaches an area's inner edge (it may go
        on outside it: detect the whole picture instead)."""
        h, w = image.shape[:2]
        if h < 4 or w < 4:
            return []
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        scale = min(1.0, self.limit_side_len / max(h, w))
        rh, rw = self.input_size(h, w, scale)
        sy, sx = rh / h, rw / w  # the whole picture's resize factors, kept for its parts
        self.stats["frames"] += 1
        whole = Box(0, 0, w, h)
        areas = [whole] if areas is None else _layout(areas, sx, sy, w, h)
        found: list[Detection] = []
        for area in areas:
            got = self._detect_area(bgr, area, scale, sx, sy)
            if got is None:
                if areas != [whole]:
                    return None
                self.stats["full_edge"] += 1
                got = self._pass(bgr, whole, scale, sx, sy)
            found += got
        return _distinct(found)

    def _pass(self, bgr: np.ndarray, area: Box, scale: float, sx: float, sy: float) -> list[Detection]:
        """The full-scale pass over one area (boxes in the picture's pixels)."""
        self.stats["full" if area.area == bgr.shape[0] * bgr.shape[1] else "regions"] += 1
        crop = np.ascontiguousarray(area.crop(bgr))
        return _shifted(self._full(crop, scale, sx, sy), area.x, area.y)

    def _detect_area(self, bgr: np.ndarray, area: Box, scale: float, sx: float, sy: float
                     ) -> list[Detection] | None:
        h, w = bgr.shape[:2]
        if not self.gate or area.area * sx * sy < self.gate_min_pixels:
            self.stats["full_small"] += 1
            got = self._pass(bgr, area, scale, sx, sy)
        else:
            crop = np.ascontiguousarray(area.crop(bgr))
            coarse = self.probability(crop, scale / 2) > self.gate_threshold
            if not coarse.any():
                self.stats["gated"] += 1
                return []
            count, _, boxes, _ = cv2.connectedComponentsWithStats(coarse.astype(np.uint8), connectivity=8)
            fy, fx = area.h / coarse.shape[0], area.w / coarse.shape[1]
            regions = []
            for x, y, bw, bh, _ in boxes[1:count]:
                # The probability map marks a line's shrunk core; its box is about 2.6x as tall.
                candidate = Box(area.x + int(x * fx), area.y + int(y * fy), int(np.ceil(bw * fx)),
                                int(np.ceil(bh * fy)))
                pad = 2 * candidate.h + int(16 / scale)
                regions.append(candidate.padded(pad, pad, w, h))
            regions = _layout(regions, sx, sy, w, h)
            if sum(r.area for r in regions) > self.max_region_share * area.area:
                self.stats["full_wide"] += 1
                return self._pass(bgr, area, scale, sx, sy)
            got = []
            for region in regions:
                part = self._pass(bgr, region, scale, sx, sy)
                if region != area and _touches_inner_edge(_shifted(part, -region.x, -region.y), region, w, h):
                    return self._pass(bgr, area, scale, sx, sy) if area.w == w and area.h == h else None
                got += part
        if area.w != w or area.h != h:
            if _touches_inner_edge(_shifted(got, -area.x, -area.y), area, w, h):
                return None
        return got


class ChangeAwareDetector:
    """A :class:`~prism.ocr.base.TextDetector` that detects only where the picture changed since
    the last picture of the same size, and keeps that picture's boxes elsewhere.

    Pictures are compared by the mean luma of 8x8 px blocks (grain and coding noise average out;
    a line of text appearing, vanishing or changing moves its blocks' means by tens of levels).
    Unchanged: the earlier boxes are the answer (``stats['reused']``). Changed in places: the
    changed blocks, padded and grown to take in any earlier box they touch, are detected by the
    inner detector; boxes outside them are kept (``stats['partial']``). Changed over more than
    ``max_changed_share`` of the picture, or a line found at a region's inner edge: the whole
    picture is detected (``stats['full']``). The comparison is by content, so any picture may be
    passed (frames, or the refinement's crops: pictures of several sizes are remembered)."""

    def __init__(self, inner: TextDetector, *, block: int = 8, changed_level: float = 6.0,
                 max_changed_share: float = 0.35, remember: int = 8):
        self.inner = inner
        self.block = block
        self.changed_level = changed_level
        self.max_changed_share = max_changed_share
        self.remember = remember
        self._last: OrderedDict[tuple[int, int], tuple[np.ndarray, list[Detection]]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats: Counter = Counter()
        self.name = f"{inner.name}-changes"

    def _blocks(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        luma = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        size = (max(w // self.block, 1), max(h // self.block, 1))
        return cv2.resize(luma, size, interpolation=cv2.INTER_AREA).astype(np.float32)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        key = (h, w)
        blocks = self._blocks(image)
        with self._lock:
            before = self._last.pop(key, None)
            self.stats["frames"] += 1
            found = self._detect(image, blocks, before)
            self._last[key] = (blocks, found)
            while len(self._last) > self.remember:
                self._last.popitem(last=False)
        return found

    def _detect(self, image: np.ndarray, blocks: np.ndarray,
                before: tuple[np.ndarray, list[Detection]] | None) -> list[Detection]:
        h, w = image.shape[:2]
        if before is None or before[0].shape != blocks.shape:
            self.stats["full"] += 1
            self.stats["full_first"] += 1
            return self.inner.detect(image)
        changed = np.abs(blocks - before[0]) > self.changed_level
        if not changed.any():
            self.stats["reused"] += 1
            return list(before[1])
        if changed.mean() > self.max_changed_share:
            self.stats["full"] += 1
            self.stats["full_wide"] += 1
            return self.inner.detect(image)
        count, _, stats, _ = cv2.connectedComponentsWithStats(changed.astype(np.uint8), connectivity=8)
        fy, fx = h / blocks.shape[0], w / blocks.shape[1]
        pad = max(32, int(0.05 * h))
        regions = [Box(int(x * fx), int(y * fy), int(np.ceil(bw * fx)), int(np.ceil(bh * fy)))
                   .padded(pad, pad, w, h) for x, y, bw, bh, _ in stats[1:count]]
        kept = list(before[1])
        while True:  # an earlier box a region touches is detected again with it
            regions = _merge(regions)
            touched = [d for d in kept if any(d.box.intersection(r) > 0 for r in regions)]
            if not touched:
                break
            kept = [d for d in kept if d not in touched]
            regions += [d.box for d in touched]
        if sum(r.area for r in regions) > self.max_changed_share * h * w:
            self.stats["full"] += 1
            self.stats["full_wide"] += 1
            return self.inner.detect(image)
        within = getattr(self.inner, "detect_within", None)
        if within is not None:  # the inner detector looks at the regions at the whole picture's scale
            got = within(image, regions)
            if got is None:
                self.stats["full"] += 1
                self.stats["full_edge"] += 1
                return self.inner.detect(image)
            # (the inner detector may grow a region over a kept box: the new reading of it wins)
            found = [d for d in kept if not any(d.box.overlap(g.box) >= 0.5 for g in got)] + got
        else:
            found = list(kept)
            for region in regions:
                part = self.inner.detect(np.ascontiguousarray(region.crop(image)))
                if _touches_inner_edge(part, region, w, h):
                    self.stats["full"] += 1
                    self.stats["full_edge"] += 1
                    return self.inner.detect(image)
                found += _shifted(part, region.x, region.y)
        self.stats["partial"] += 1
        found.sort(key=lambda d: (d.box.y, d.box.x))
        return found


def text_detector(*, limit_side_len: int = 960, threads: int = 1,
                  providers: Sequence[str] = ("CPUExecutionProvider",)) -> ChangeAwareDetector:
    """The detector on-screen text uses: PP-OCR behind the gate, detecting only what changed."""
    return ChangeAwareDetector(RapidDetector(limit_side_len=limit_side_len, threads=threads,
                                             providers=providers))


class RapidReader:
    """PP-OCRv6 (small) recognition of line crops: Latin, Chinese, Japanese."""

    def __init__(self, *, threads: int = 1):
        self.engine = _engine(960, threads)
        self.name = "ppocrv6-rec"

    def read_crop(self, rgb: np.ndarray) -> tuple[str, float]:
        if rgb.size == 0 or min(rgb.shape[:2]) < 4:
            return "", 0.0
        result = self.engine(np.ascontiguousarray(rgb[:, :, ::-1]), use_det=False, use_cls=False, use_rec=True)
        txts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        if not txts:
            return "", 0.0
        return normalize_text(str(txts[0])), float(scores[0]) if scores else 0.0

    def read(self, image: np.ndarray, boxes: Sequence[Box]) -> list[TextLine]:
        lines = []
        for box in boxes:
            text, conf = self.read_crop(box.crop(image))
            lines.append(TextLine(box, text, script_of(text), conf, self.name))
        return lines
