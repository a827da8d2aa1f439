"""Results files under ``benchmarks/results/``: re-measured rows replace old ones, the rest stay."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from convert.bench import machine


def replace_rows(
    existing: Iterable[dict[str, Any]],
    fresh: Iterable[dict[str, Any]],
    *,
    key: str,
    order: Sequence[str],
) -> list[dict[str, Any]]:
    """Rows of a results file with those of the models in ``fresh`` re-measured.

    Rows are dicts; ``key`` names the model. Every ``existing`` row of a model that has a
    ``fresh`` row is dropped, the ``fresh`` rows are added, and the result is sorted by
    the model's place in ``order`` (models outside it last), keeping each model's rows in
    their measured order.
    """
    fresh = list(fresh)
    renewed = {row[key] for row in fresh}
    rows = [row for row in existing if row[key] not in renewed] + fresh
    place = {name: i for i, name in enumerate(order)}
    return sorted(rows, key=lambda row: place.get(row[key], len(place)))


def write_model_table(
    json_path: Path, measured: dict[str, Any], markdown: Callable[[dict, str], str]
) -> str:
    """Merge ``measured`` (rows by model) into ``json_path`` and write it with its .md twin.

    The file is read just before writing, so rows another run wrote meanwhile are kept. Both
    files are written atomically; returns the Markdown, ``markdown(table, machine())``.
    """
    from zoo.files import write_text_atomically

    table = json.loads(json_path.read_text())["models"] if json_path.is_file() else {}
    table.update(measured)
    host = machine()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": host, "models": table}
    write_text_atomically(json_path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    text = markdown(table, host)
    write_text_atomically(json_path.with_suffix(".md"), text)
    return text
