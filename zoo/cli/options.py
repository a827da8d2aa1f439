"""What the command modules share: option help, argument parsing and text formatting."""

from __future__ import annotations

import json

import click

from zoo.errors import ZooError
from zoo.tables import text_table

WEIGHTS_HELP = (
    "A run folder (zoo train --out), a .weights.h5 / .keras file, or default (the shipped weights)."
)


def parse_assignments(pairs: tuple[str, ...]) -> dict | None:
    """('a=1', 'b=x') -> {'a': 1, 'b': 'x'}: values are JSON when they parse, else text."""
    parsed = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ZooError(f"expected KEY=VALUE, got {pair!r}")
        try:
            parsed[key] = json.loads(text)
        except ValueError:
            parsed[key] = text
    return parsed or None


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'128x96' -> (128, 96); '64' -> (64, 64); None stays None."""
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(f"expected HxW with positive integers, got {text!r}")
    height = int(parts[0])
    return height, int(parts[-1])


def describe_io(info) -> str:
    """'z:100 -> 32x32x1' style summary of a ModelInfo's inputs and output."""
    scale = info.recipe.options.get("scale", 1)
    inputs = ", ".join(f"{s.name}:{_shape(s.shape)}" for s in info.inputs)
    baseline = " (baseline)" if info.baseline else ""
    return f"{inputs} -> {_shape(info.output.shape, scale)}{baseline}"


def describe_spec(spec) -> str:
    """'lr HxWx1 float32 in [0, 1] (description)' style line for one input or output spec."""
    low, high = spec.value_range
    bound = "" if spec.bounded else ", unbounded"
    text = f"{spec.name} {_shape(spec.shape)} {spec.dtype} in [{low:g}, {high:g}]{bound}"
    return f"{text} ({spec.description})" if spec.description else text


def _shape(shape: tuple, scale: int = 1) -> str:
    prefix = "" if scale == 1 else str(scale)
    spatial = ("H", "W")
    return "x".join(
        f"{prefix}{spatial[i]}" if dim is None else str(dim) for i, dim in enumerate(shape)
    )


def format_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain left-aligned text table under ``headers``."""
    return text_table([headers, *rows])
