"""Tiling sample images into one grid image, each row labelled, small cells enlarged."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MIN_CELL = 96  # pixels: smaller cells are enlarged (nearest neighbour) to at least this
LABEL_WIDTH = 84  # pixels of the label column, when there are labels


def image_grid(
    rows: list[list[np.ndarray]],
    *,
    labels: Sequence[str] | None = None,
    pad: int = 2,
    min_cell: int = MIN_CELL,
) -> np.ndarray:
    """Rows of (H, W, C) images in [0, 1] -> one RGB grid, float32 in [0, 1].

    Gray cells become RGB. Cells whose larger side is under ``min_cell`` pixels are enlarged
    by a whole factor (nearest neighbour, so pixels stay visible). ``labels`` (one per row)
    are written in a white column on the left. Smaller cells sit top-left in their slot; the
    gaps are white.
    """
    cells = [[_rgb(image) for image in row] for row in rows]
    largest = max(max(cell.shape[:2]) for row in cells for cell in row)
    factor = max(1, -(-min_cell // largest))
    cells = [[cell.repeat(factor, 0).repeat(factor, 1) for cell in row] for row in cells]
    height = max(cell.shape[0] for row in cells for cell in row)
    width = max(cell.shape[1] for row in cells for cell in row)
    columns = max(len(row) for row in cells)
    margin = LABEL_WIDTH if labels else 0
    grid = np.ones(
        (len(cells) * (height + pad) + pad, margin + columns * (width + pad) + pad, 3), np.float32
    )
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            top, left = pad + r * (height + pad), margin + pad + c * (width + pad)
            grid[top : top + cell.shape[0], left : left + cell.shape[1]] = cell
    if labels:
        grid = _write_labels(grid, labels, row_height=height + pad, pad=pad)
    return grid


def _write_labels(grid: np.ndarray, labels: Sequence[str], *, row_height: int, pad: int):
    canvas = Image.fromarray((grid * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for r, label in enumerate(labels):
        draw.text((4, pad + r * row_height + row_height // 2 - 6), str(label), fill=0, font=font)
    return np.asarray(canvas, np.float32) / 255.0


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
