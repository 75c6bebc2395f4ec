"""Per-frame signals computed from a sparse sample grid of the decoded planes.

The decode pass never converts a full-size frame: it gathers a fixed grid of
luma/chroma samples straight from the decoder's planes (a few tens of
microseconds per frame, against milliseconds for a swscale resize to the same
size), then computes every signal for a chunk of frames at once with numpy.

Grid: ``GRID_H x GRID_W`` positions spread evenly over the picture (2x2 per cell
of the 27x48 thumbnail TransNetV2 expects), for luma and both chroma planes.
Each cell's samples are averaged, a sparse box filter: it tames the aliasing of
point sampling on fine texture at a fraction of an area resize's cost (4x4 per
cell cost more CPU for no better detection on the test titles). One pixel per cell
is gathered with its right and lower neighbours, so sharpness is measured on
adjacent full-resolution pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

THUMB_H, THUMB_W = 27, 48  # TransNetV2's input size
_SUB = 2  # samples per thumbnail cell along each axis
GRID_H, GRID_W = THUMB_H * _SUB, THUMB_W * _SUB
FRAME_BYTES = THUMB_H * THUMB_W * 3

# Normalized luma below this is "black" (FFmpeg blackdetect's pixel threshold, 0.10).
BLACK_PIXEL = 0.10
# A bar row/column holds no sample brighter than this (letterbox bars are true black).
BAR_PIXEL = 0.12

SIGNALS_SCHEMA = pa.schema(
    [
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("time_s", pa.float64(), nullable=False),  # presentation time
        pa.field("luma_mean", pa.float32(), nullable=False),  # 0..1 (black..white)
        pa.field("luma_std", pa.float32(), nullable=False),  # spread of the 48x27 cell means
        pa.field("black_ratio", pa.float32(), nullable=False),  # share of samples below BLACK_PIXEL
        pa.field("diff_prev", pa.float32(), nullable=False),  # mean |RGB 48x27 - previous| / 255
        pa.field("motion", pa.float32(), nullable=False),  # mean |luma grid - previous|
        pa.field("sharpness", pa.float32(), nullable=False),  # mean |adjacent-pixel luma gradient|
        pa.field("bar_top", pa.float32()),  # share of the height that is a black bar (NaN: black frame)
        pa.field("bar_bottom", pa.float32()),
        pa.field("bar_left", pa.float32()),
        pa.field("bar_right", pa.float32()),
        pa.field("rgb_48x27", pa.binary(FRAME_BYTES), nullable=False),  # TransNetV2-ready RGB, HWC uint8
        pa.field("key_frame", pa.bool_(), nullable=False),  # the decoder marked it a keyframe (seek point)
    ]
)


def _positions(n_out: int, n_in: int) -> np.ndarray:
    """Evenly spread sample positions (cell centres), clamped so a +1 neighbour exists."""
    pos = ((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.intp)
    return np.clip(pos, 0, max(0, n_in - 2))


@dataclass
class PlaneLayout:
    """Which pixels of each plane the grid samples (computed once per stream).

    ``index[i]`` are flat element offsets into plane ``i``'s buffer (row stride
    included), so one ``np.take`` per plane gathers the whole grid; indices 3 and 4
    are the right and lower neighbours of the luma samples.
    """

    index: list[np.ndarray]
    line_sizes: tuple[int, ...]
    dtype: type
    shift: int  # bits to drop for >8-bit formats
    full_range: bool
    bt709: bool
    # The plane each of the six slots reads: Y, U, V, Y, Y, Y for planar formats; Y, UV, UV,
    # Y, Y, Y for semi-planar ones (NV12, P010: what hardware decoders such as NVDEC return).
    sources: tuple[int, ...] = (0, 1, 2, 0, 0, 0)


# Planar YUV formats read directly (value: bits beyond 8); others are converted to yuv420p first.
_DIRECT = {
    "yuv420p": 0, "yuvj420p": 0, "yuv422p": 0, "yuvj422p": 0, "yuv444p": 0, "yuvj444p": 0,
    "yuv420p10le": 2, "yuv422p10le": 2, "yuv444p10le": 2, "yuv420p12le": 4,
    # Semi-planar: chroma interleaved U,V in plane 1; P010/P016 keep their bits at the top.
    "nv12": 0, "p010le": 8, "p016le": 8,
}
_SEMI_PLANAR = frozenset({"nv12", "p010le", "p016le"})


def direct_format(pix_fmt: str) -> bool:
    return pix_fmt in _DIRECT


# Samples per plane: luma on the full grid, chroma 2x2 per cell (colour varies slowly), and
# one pixel per cell with its right and lower neighbours for sharpness.
CHROMA_H, CHROMA_W = THUMB_H * 2, THUMB_W * 2
SLOT_SIZES = (GRID_H * GRID_W, CHROMA_H * CHROMA_W, CHROMA_H * CHROMA_W,
              THUMB_H * THUMB_W, THUMB_H * THUMB_W, THUMB_H * THUMB_W)


def plane_layout(frame) -> PlaneLayout:
    name = frame.format.name
    shift = _DIRECT.get(name, 0)
    dtype = np.uint16 if shift else np.uint8
    semi = name in _SEMI_PLANAR
    planes = frame.planes[:2 if semi else 3]
    strides = [p.line_size // np.dtype(dtype).itemsize for p in planes]

    def grid(i: int, rows: int, cols: int, step: int = 1, offset: int = 0) -> np.ndarray:
        r = _positions(rows, planes[i].height)
        c = _positions(cols, planes[i].width)  # a semi-planar chroma plane's width is in UV pairs
        return (r[:, None] * strides[i] + c[None, :] * step + offset).ravel()

    cell = grid(0, THUMB_H, THUMB_W)
    if semi:
        chroma = [grid(1, CHROMA_H, CHROMA_W, 2, 0), grid(1, CHROMA_H, CHROMA_W, 2, 1)]
        sources = (0, 1, 1, 0, 0, 0)
    else:
        chroma = [grid(1, CHROMA_H, CHROMA_W), grid(2, CHROMA_H, CHROMA_W)]
        sources = (0, 1, 2, 0, 0, 0)
    index = [grid(0, GRID_H, GRID_W), *chroma, cell, cell + 1, cell + strides[0]]
    # Unspecified colour matrices decode as BT.601, as FFmpeg's own converters do.
    bt709 = int(getattr(frame, "colorspace", 2) or 2) == 1
    full = name.startswith("yuvj") or int(getattr(frame, "color_range", 0) or 0) == 2
    return PlaneLayout(index, tuple(p.line_size for p in planes), dtype, shift, full, bt709, sources)


def gather(frame, layout: PlaneLayout, slots: list[np.ndarray]) -> None:
    """Copy one decoded frame's samples into ``slots`` (flat uint8 arrays of ``SLOT_SIZES``):
    luma grid, U, V, and luma at each cell with its right and lower neighbours."""
    planes = frame.planes
    arrays = [np.frombuffer(planes[i], layout.dtype) for i in range(max(layout.sources) + 1)]
    for slot, src, idx in zip(slots, layout.sources, layout.index, strict=True):
        if layout.shift:
            slot[:] = arrays[src].take(idx) >> layout.shift
        else:
            arrays[src].take(idx, out=slot)


def _cells(grid: np.ndarray) -> np.ndarray:
    """(n, 27*k, 48*k) uint8 → (n, 27, 48) float32 cell means."""
    n, h, w = grid.shape
    sub = h // THUMB_H
    rows = grid.reshape(n, THUMB_H, sub, w).sum(axis=2, dtype=np.uint16)
    cells = rows.reshape(n, THUMB_H, THUMB_W, sub).sum(axis=3, dtype=np.uint16)
    return cells.astype(np.float32) / sub**2


def to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, full_range: bool, bt709: bool) -> np.ndarray:
    """(n, H, W) YUV cell means → (n, H, W, 3) uint8 RGB."""
    if full_range:
        yf, scale_c = y, 1.0
    else:
        yf, scale_c = (y - 16.0) * (255.0 / 219.0), 255.0 / 224.0
    cb, cr = u - 128.0, v - 128.0
    kr, kb = (0.2126, 0.0722) if bt709 else (0.299, 0.114)
    kg = 1.0 - kr - kb
    out = np.empty((*y.shape, 3), np.float32)
    out[..., 0] = yf + (scale_c * 2 * (1 - kr)) * cr
    out[..., 2] = yf + (scale_c * 2 * (1 - kb)) * cb
    out[..., 1] = (yf - kr * out[..., 0] - kb * out[..., 2]) / kg
    out += 0.5
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def _bars(dark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leading and trailing run lengths of True along the last axis."""
    n = dark.shape[-1]
    every = dark.all(axis=-1)
    lead = np.where(every, n, np.argmin(dark, axis=-1))
    trail = np.where(every, n, np.argmin(dark[..., ::-1], axis=-1))
    return lead, trail


def _arrow(values: np.ndarray, type_: pa.DataType, null: np.ndarray | None = None) -> pa.Array:
    """A numpy column as an Arrow array by its buffers (``pa.array`` would import pandas on
    first use, a fixed ~0.4 s)."""
    values = np.ascontiguousarray(values)
    validity = None
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~null, bitorder="little").tobytes())
    return pa.Array.from_buffers(type_, len(values), [validity, pa.py_buffer(values.tobytes())])


@dataclass
class ChunkCarry:
    """The previous chunk's last frame, so differences continue across chunk edges."""

    rgb: np.ndarray | None = None
    luma: np.ndarray | None = None


def compute_signals(first_index: int, times: np.ndarray, grids: list[np.ndarray], layout: PlaneLayout,
                    carry: ChunkCarry, key_frames: np.ndarray | None = None) -> pa.Table:
    """Signals for a chunk of ``n`` frames from their samples (see :func:`gather`; each
    ``(n, SLOT_SIZES[i])`` uint8). Luma statistics stay in integer code values and are
    normalized once per frame: cheaper than converting every sample."""
    n = len(times)
    y = grids[0].reshape(n, GRID_H, GRID_W)
    u, v = (g.reshape(n, CHROMA_H, CHROMA_W) for g in grids[1:3])
    yc, yr, yd = (g.astype(np.int16) for g in grids[3:6])
    lo, span = (0.0, 255.0) if layout.full_range else (16.0, 219.0)

    y_cells = _cells(y)
    rgb = to_rgb(y_cells, _cells(u), _cells(v), full_range=layout.full_range, bt709=layout.bt709)
    rgb_i = rgb.astype(np.int16)
    prev_rgb = np.concatenate([(carry.rgb if carry.rgb is not None else rgb_i[:1]), rgb_i[:-1]])
    diff_prev = np.abs(rgb_i - prev_rgb).mean(axis=(1, 2, 3)) / 255.0
    y_i = y.astype(np.int16)
    prev_y = np.concatenate([(carry.luma if carry.luma is not None else y_i[:1]), y_i[:-1]])
    motion = np.abs(y_i - prev_y).mean(axis=(1, 2)) / span
    carry.rgb, carry.luma = rgb_i[-1:], y_i[-1:]
    sharpness = (np.abs(yr - yc).mean(axis=1) + np.abs(yd - yc).mean(axis=1)) / (2 * span)

    flat = y.reshape(n, -1)
    luma_mean = np.clip((flat.mean(axis=1) - lo) / span, 0.0, 1.0)
    luma_std = y_cells.reshape(n, -1).std(axis=1) / span  # of the 48x27 cell means: cheap
    black_ratio = (flat < lo + BLACK_PIXEL * span).mean(axis=1)
    bar_code = lo + BAR_PIXEL * span
    top, bottom = _bars(y.max(axis=2) < bar_code)
    left, right = _bars(y.max(axis=1) < bar_code)
    blackish = black_ratio >= 0.98
    bars = [np.where(blackish, np.nan, b / d).astype(np.float32)
            for b, d in ((top, GRID_H), (bottom, GRID_H), (left, GRID_W), (right, GRID_W))]

    return pa.Table.from_arrays(
        [
            _arrow(np.arange(first_index, first_index + n, dtype=np.int32), pa.int32()),
            _arrow(times.astype(np.float64), pa.float64()),
            *[_arrow(x.astype(np.float32), pa.float32())
              for x in (luma_mean, luma_std, black_ratio, diff_prev, motion, sharpness)],
            *[_arrow(b, pa.float32(), np.isnan(b)) for b in bars],
            pa.FixedSizeBinaryArray.from_buffers(pa.binary(FRAME_BYTES), n,
                                                 [None, pa.py_buffer(rgb.tobytes())]),
            pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(
                key_frames if key_frames is not None else np.zeros(n, bool), bitorder="little").tobytes())]),
        ],
        schema=SIGNALS_SCHEMA,
    )


def frames_of(column: pa.Array) -> np.ndarray:
    """``rgb_48x27`` values as an ``(n, 27, 48, 3)`` uint8 array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    buf = column.buffers()[1]
    start = column.offset * FRAME_BYTES
    data = np.frombuffer(buf, np.uint8, count=len(column) * FRAME_BYTES, offset=start)
    return data.reshape(len(column), THUMB_H, THUMB_W, 3)


def frame_stats(slots: list[np.ndarray], previous_luma: np.ndarray | None, layout: PlaneLayout
                ) -> tuple[float, float, float, np.ndarray]:
    """Sharpness, motion and black ratio of one frame from its gathered samples, as
    :func:`compute_signals` computes them for a chunk (the pass needs them at the frame, to decide
    what to capture while the frame is still decoded). Returns them and the frame's luma grid (the
    next frame's ``previous_luma``)."""
    lo, span = (0.0, 255.0) if layout.full_range else (16.0, 219.0)
    y = slots[0].astype(np.int16)
    yc, yr, yd = (s.astype(np.int16) for s in slots[3:6])
    sharpness = float(np.abs(yr - yc).mean() + np.abs(yd - yc).mean()) / (2 * span)
    motion = float(np.abs(y - previous_luma).mean()) / span if previous_luma is not None else 0.0
    black_ratio = float(np.count_nonzero(slots[0] < lo + BLACK_PIXEL * span)) / y.size
    return sharpness, motion, black_ratio, y
