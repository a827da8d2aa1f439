"""The latency chart of ``zoo bench --plot``: one panel per model or file, a bar per row.

Each bar is a row's median latency with a whisker up to its p90, labelled with its mode and
threads; a panel whose times span more than 20x (eager Keras beside XNNPACK) gets a log axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.files import write_atomically

if TYPE_CHECKING:
    from convert.bench import Latency

COLOURS = {
    "keras": "#787878",
    "float32": "#1f77b4",
    "float16": "#2ca02c",
    "dynamic": "#ff7f0e",
    "int8": "#d62728",
    "int16x8": "#9467bd",
}
LOG_SPAN = 20  # a panel whose slowest/fastest ratio exceeds this gets a log axis


def write_chart(results: Sequence[Latency], path: Path, *, title: str = "Latency") -> Path:
    """Draw ``results`` and write the PNG to ``path``, atomically; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    panels: dict[str, list[Latency]] = {}
    for row in results:
        panels.setdefault(row.target, []).append(row)
    most = max((len(rows) for rows in panels.values()), default=1)
    figure, axes = pyplot.subplots(
        max(1, len(panels)),
        1,
        figsize=(max(5.2, 0.9 * most + 1.5), 2.6 * max(1, len(panels))),
        squeeze=False,
    )
    figure.suptitle(f"{title}  (bar: median, line: p90)", fontsize=10)
    for axis, (target, rows) in zip(axes[:, 0], panels.items(), strict=False):
        positions = range(len(rows))
        medians = [row.median_ms for row in rows]
        whiskers = [[0.0] * len(rows), [max(r.p90_ms - r.median_ms, 0.0) for r in rows]]
        colours = [COLOURS.get(row.mode, "#17becf") for row in rows]
        axis.bar(positions, medians, color=colours, yerr=whiskers, capsize=4)
        for x, row in zip(positions, rows, strict=True):  # the median, above the whisker
            axis.annotate(
                f"{row.median_ms:.3g}",
                (x, max(row.p90_ms, row.median_ms)),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )
        threads = ["tf" if row.threads is None else f"{row.threads} thr" for row in rows]
        axis.set_xticks(
            list(positions),
            [f"{r.mode}\n{t}" for r, t in zip(rows, threads, strict=True)],
            fontsize=8,
        )
        positive = [value for row in rows for value in (row.median_ms, row.p90_ms) if value > 0]
        logarithmic = bool(positive) and max(positive) / min(positive) > LOG_SPAN
        if logarithmic:
            axis.set_yscale("log")
        axis.set_ylabel("ms")
        axis.set_title(Path(target).name + (" (log scale)" if logarithmic else ""), fontsize=9)
    figure.tight_layout()
    write_atomically(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    pyplot.close(figure)
    return path
