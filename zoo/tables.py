"""Plain-text tables for the terminal: left-aligned columns, two spaces apart."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(rows: Sequence[Sequence[object]], *, header: bool = True) -> str:
    """``rows`` as aligned text; with ``header``, a rule of dashes under the first row."""
    cells = [[str(cell) for cell in row] for row in rows]
    if not cells:
        return ""
    widths = [max(len(column) for column in columns) for columns in zip(*cells, strict=True)]
    if header:
        cells.insert(1, ["-" * width for width in widths])
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
