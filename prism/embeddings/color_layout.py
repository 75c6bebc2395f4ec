"""The built-in image descriptor: an MPEG-7-style Colour Layout Descriptor.

No CLIP/SigLIP weights ship in any package the offline demo can install, so the demo's
visual vectors come from this: the spatial layout of colour, which is what makes two shots
of the same scene look alike at a glance and what survives re-encoding, rescaling and small
exposure changes.

1. The image is averaged over an 8×8 grid of blocks (area averaging, any aspect ratio).
2. The block means are converted to YCbCr (BT.601, full range) and centred on zero.
3. Each channel gets an orthonormal 2-D DCT-II; the coefficients are read in zig-zag order
   (low spatial frequencies first): all 64 of Y and the first 32 of Cb and of Cr (the eye,
   and a scene's identity, depend less on fine colour detail than on fine luma detail).
4. Coefficients are weighted down with their zig-zag rank (coarse layout counts most, as in
   MPEG-7's matching weights), chroma weighted up against luma, and the whole 128-vector
   is L2-normalised, so the dot product is the cosine similarity.

A uniform brightness change moves mainly the Y DC term, and the weights keep that term from
dominating; a different scene changes the layout of every channel. It is a descriptor, not a
learned embedding: it knows nothing of objects or text, so it has no text tower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy.fft import dctn

from prism.embeddings.base import EmbeddingError, NoTextTower, l2_normalize

GRID = 8
LUMA_COEFFICIENTS = 64
CHROMA_COEFFICIENTS = 32
CHROMA_WEIGHT = 2.0  # chroma DCT values are ~2-3x smaller than luma's for natural colours

# BT.601 full-range RGB → YCbCr (what JPEG uses), applied to block means.
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                          [-0.168736, -0.331264, 0.5],
                          [0.5, -0.418688, -0.081312]], dtype=np.float64)


def zigzag_order(n: int = GRID) -> np.ndarray:
    """Flat indices of an n×n block in JPEG zig-zag order (anti-diagonals, alternating direction)."""
    cells = sorted(((r, c) for r in range(n) for c in range(n)),
                   key=lambda rc: (rc[0] + rc[1], rc[1] if (rc[0] + rc[1]) % 2 == 0 else rc[0]))
    return np.array([r * n + c for r, c in cells], dtype=np.int64)


_ZIGZAG = zigzag_order(GRID)


def _rank_weights(count: int) -> np.ndarray:
    """1 for the DC term and the first AC terms, falling off as 1/sqrt(rank) beyond them."""
    ranks = np.arange(count, dtype=np.float64)
    return 1.0 / np.sqrt(np.maximum(ranks, 3.0) / 3.0)


_WEIGHTS = np.concatenate([_rank_weights(LUMA_COEFFICIENTS),
                           CHROMA_WEIGHT * _rank_weights(CHROMA_COEFFICIENTS),
                           CHROMA_WEIGHT * _rank_weights(CHROMA_COEFFICIENTS)])
# The luma DC term is the frame's mean brightness: kept, but at half weight, so an exposure
# change does not outweigh the layout.
_WEIGHTS[0] *= 0.5


def block_means(image: Image.Image, grid: int = GRID) -> np.ndarray:
    """(grid, grid, 3) float64 mean RGB of each block (Pillow's BOX filter is exact area averaging)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    # Shrinking in two steps (fast integer reduce, then an exact box average) keeps large frames
    # cheap without changing the block means beyond rounding.
    factor = max(1, min(rgb.width, rgb.height) // (grid * 8))
    if factor > 1:
        rgb = rgb.reduce(factor)
    small = rgb.resize((grid, grid), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64)


def colour_layout(image: Image.Image) -> np.ndarray:
    """The unnormalised, weighted 128-coefficient descriptor of one image."""
    ycbcr = block_means(image) @ _RGB_TO_YCBCR.T
    ycbcr[..., 0] -= 128.0  # centre luma; chroma is already centred
    coefficients = []
    for channel, keep in ((0, LUMA_COEFFICIENTS), (1, CHROMA_COEFFICIENTS), (2, CHROMA_COEFFICIENTS)):
        dct = dctn(ycbcr[..., channel], type=2, norm="ortho").reshape(-1)
        coefficients.append(dct[_ZIGZAG[:keep]])
    return np.concatenate(coefficients) * _WEIGHTS


class ColorLayoutEmbedder:
    """``ImageEmbedder`` for the built-in colour-layout descriptor (128 dims, images only)."""

    model_id = "prism/color-layout-v1"
    dim = LUMA_COEFFICIENTS + 2 * CHROMA_COEFFICIENTS
    has_text_tower = False

    def __init__(self, *, batch_size: int = 256, device: str = "cpu"):
        # Accepted for a uniform loader signature: the descriptor is plain numpy on the CPU.
        self.batch_size = batch_size
        self.device = device

    def __repr__(self) -> str:
        return f"ColorLayoutEmbedder(model_id={self.model_id!r}, dim={self.dim})"

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise EmbeddingError(f"image #{i} is {type(image).__name__}, not a PIL image")
            row = colour_layout(image)
            if np.linalg.norm(row) < 1e-6:  # a flat frame of the centre grey: give it the brightness axis
                row = np.zeros_like(row)
                row[0] = 1.0
            rows.append(row)
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.stack(rows))

    def embed_text_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NoTextTower(
            f"the built-in colour-layout descriptor ({self.model_id}) embeds images only: it cannot place a "
            "text query among shots. Text→shot search needs a CLIP/SigLIP-family model "
            "(set PRISM_VISUAL_MODEL_SOURCE to one); visually similar shots (search --like) work with it.")
