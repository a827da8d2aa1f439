"""Tiling sample images into one grid image."""

from __future__ import annotations

import numpy as np


def image_grid(rows: list[list[np.ndarray]], *, pad: int = 2) -> np.ndarray:
    """Rows of (H, W, C) images in [0, 1] -> one (rows*H', cols*W', 3) RGB image.

    Gray cells become RGB; smaller cells sit top-left in their slot; the gaps are white.
    """
    cells = [[_rgb(image) for image in row] for row in rows]
    height = max(cell.shape[0] for row in cells for cell in row)
    width = max(cell.shape[1] for row in cells for cell in row)
    columns = max(len(row) for row in cells)
    grid = np.ones(
        (len(cells) * (height + pad) + pad, columns * (width + pad) + pad, 3), np.float32
    )
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            grid[top : top + cell.shape[0], left : left + cell.shape[1]] = cell
    return grid


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
