"""Commands that take models to phones: `zoo convert`, `export`, `check`, `bench`, `optimize`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from convert.delegates import TARGETS as DELEGATE_TARGETS
from convert.export import TARGETS as EXPORT_TARGETS
from convert.tflite import LOWERINGS, MODES, RANGES, ROUNDINGS
from zoo.cli.options import WEIGHTS_HELP, format_table, parse_size
from zoo.errors import ZooError

_ACCELERATORS_HELP = (
    "Run the file on LiteRT's CPU, GPU and NPU accelerators where this machine has them "
    "and compare with Keras."
)


@click.command("convert")
@click.argument("model")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=".tflite to write.")
@click.option("--mode", type=click.Choice(MODES), default="float32", show_default=True)
@click.option("--weights", help=f"{WEIGHTS_HELP} (default: the initial weights).")
@click.option("--size", callback=lambda _c, _p, v: parse_size(v), help="HxW of a fully conv model.")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Representative samples of the model's data that calibrate int8.",
)
@click.option("--float-io", is_flag=True, help="int8 with float input and output.")
@click.option(
    "--equalize",
    is_flag=True,
    help="Cross-layer equalization before converting (same outputs; int8 loses less).",
)
@click.option(
    "--lowering",
    type=click.Choice(LOWERINGS),
    default="auto",
    show_default=True,
    help="auto: transposed convolutions as CONV_2D + DEPTH_TO_SPACE (exact, faster), int8 "
    "PReLUs as ReLU convolutions; cpu: for XNNPACK, also float files' phases as convolutions "
    "of their own; none: keep TRANSPOSE_CONV.",
)
@click.option(
    "--rounding",
    type=click.Choice(ROUNDINGS),
    default="best",
    show_default=True,
    help="int8 / int16x8 weights: gptq rounds each layer's onto the grid where its output "
    "moves least (and balances activation ranges first); nearest: the converter's rounding; "
    "best: both, keeping the file closer to Keras on the calibration samples.",
)
@click.option(
    "--ranges",
    type=click.Choice(RANGES),
    default="calibrated",
    show_default=True,
    help="int8 activations: calibrated keeps each tensor's observed range; tuned narrows a "
    "range where that brings the file's output closer to Keras (slower to convert).",
)
@click.option("--accelerators/--no-accelerators", default=True, help=_ACCELERATORS_HELP)
@click.option(
    "--strict", is_flag=True, help="Exit 1 when an accelerator refuses or disagrees with Keras."
)
def convert_command(
    model: str,
    out: str,
    mode: str,
    weights: str | None,
    size,
    samples: int,
    float_io: bool,
    equalize: bool,
    lowering: str,
    rounding: str,
    ranges: str,
    accelerators: bool,
    strict: bool,
) -> None:
    """Convert MODEL to a TFLite file (+ JSON metadata beside it) and report its parity."""
    from convert.tflite import convert_model

    result = convert_model(
        model,
        mode=mode,
        size=size,
        weights=weights,
        representative_count=samples,
        float_io=float_io,
        equalize=equalize,
        lowering=lowering,
        rounding=rounding,
        ranges=ranges,
        accelerators=accelerators,
    )
    path = result.save(out)
    click.echo(f"{path}: {mode}, {result.size / 1024:,.1f} KB")
    click.echo(f"parity vs Keras ({result.parity.samples} inputs): {result.parity.summary()}")
    for note in result.notes:
        click.echo(note)
    if result.accelerators is not None:
        click.echo(result.accelerators.summary())
        if strict:
            result.accelerators.require()


@click.command("export")
@click.argument("model")
@click.option("--target", required=True, type=click.Choice(EXPORT_TARGETS))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--weights", help=f"{WEIGHTS_HELP} (default: the initial weights).")
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Timed runs for the host latency.",
)
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder.")
def export_command(
    model: str, target: str, out: str, weights: str | None, runs: int, force: bool
) -> None:
    """Write MODEL's phone bundle for TARGET: the .tflite that suits it, model card,
    golden input and output, and RUN_ON_DEVICE.md."""
    from convert.export import export, load_card

    folder = export(model, target=target, out=out, weights=weights, runs=runs, force=force)
    card = load_card(folder)
    latency = card["host_latency"][card["mode"]]
    click.echo(f"{folder / card['file']}: {card['mode']}, {card['size_bytes'] / 1024:,.1f} KB")
    click.echo(f"{card['delegate']['target']}: {card['delegate']['verdict']}")
    click.echo(f"host latency: {latency['median_ms']:.2f} ms median (1 thread, XNNPACK)")
    click.echo(f"card: {folder / 'model_card.md'}; device steps: {folder / 'RUN_ON_DEVICE.md'}")


@click.command("check")
@click.argument("source", metavar="FILE.tflite|MODEL")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    help="How a MODEL is converted [default: float32]; a FILE is converted already.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Choice(DELEGATE_TARGETS),
    help="Target --strict covers (repeatable; default: those the file's precision is for).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--accelerators/--no-accelerators", default=True, help=_ACCELERATORS_HELP)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when an op falls back on a covered target, or an accelerator that ran "
    "refuses the file or disagrees with Keras.",
)
def check_command(
    source: str,
    mode: str | None,
    targets: tuple[str, ...],
    as_json: bool,
    accelerators: bool,
    strict: bool,
) -> None:
    """Which delegates (GPU, XNNPACK, NNAPI, Hexagon, QNN, Edge TPU) run a .tflite whole:
    the rules' verdicts (fallback ops, versions, dynamic tensors, partitions) and, measured,
    what LiteRT's own accelerators on this machine do with it. A MODEL is converted first."""
    from convert.delegates import check
    from convert.flatbuffer import load_bytes
    from convert.runtime import measure_file

    path_or_bytes, label = _load_source(source, mode=mode)
    report = check(path_or_bytes, label=label)
    measured = measure_file(load_bytes(path_or_bytes), source=label) if accelerators else None
    if as_json:
        data = report.to_dict()
        data["measured"] = measured.to_dict() if measured else None
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(report.summary())
        if measured:
            click.echo("\n" + measured.summary())
    if strict:
        if measured:
            measured.require(targets or None)
        report.require(targets or None)


def _load_source(source: str, *, mode: str | None = None) -> tuple[Path | bytes, str]:
    """What `zoo check` reads for its argument, and its label: a .tflite path as is, or
    registered model ``source`` converted in ``mode`` (bytes; default float32)."""
    path = Path(source)
    if path.exists() or path.suffix == ".tflite":
        if mode is not None:
            raise ZooError(
                f"--mode {mode} converts a MODEL; {path} is converted already, so its "
                "precision is the file's"
            )
        return path, str(path)
    from convert.tflite import to_tflite

    mode = mode or "float32"

    return to_tflite(source, mode=mode), f"{source} ({mode})"


@click.command("bench")
@click.argument("targets", nargs=-1, required=True, metavar="FILE|MODEL...")
@click.option("--threads", default="1", show_default=True, help="Thread counts, e.g. 1,2.")
@click.option("--runs", type=int, default=20, show_default=True, help="Timed runs per row.")
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed runs first.")
@click.option(
    "--modes",
    default="keras,float32,float16,dynamic,int8",
    show_default=True,
    help="What a MODEL is timed as (keras and TFLite modes).",
)
@click.option("--weights", help=f"{WEIGHTS_HELP} For MODEL (default: random init).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random inputs.")
@click.option("--xnnpack/--no-xnnpack", default=True, help="LiteRT's default CPU delegate [on].")
@click.option("--plot", type=click.Path(dir_okay=False), help="Also write a bar chart PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench_command(targets: tuple[str, ...], plot: str | None, as_json: bool, **settings) -> None:
    """Latency (median, p90), size and peak memory of .tflite FILEs, or of MODEL as Keras
    and as float32/float16/dynamic/int8 files converted in the same run."""
    from convert.bench import bench

    if plot and not os.path.isdir(os.path.dirname(os.path.abspath(plot))):
        raise ZooError(f"folder {os.path.dirname(plot)} does not exist")
    report = bench(targets, **settings)
    if plot:
        report.plot(plot)
    if as_json:
        click.echo(report.to_json())
        return
    click.echo(format_table(*report.rows()))
    click.echo(f"\n{report.machine}; {report.memory}.")
    if plot:
        click.echo(f"plot: {plot}")


@click.command("optimize")
@click.argument("model")
@click.option("--weights", help=f"{WEIGHTS_HELP} (default: the initial weights).")
@click.option("--qat", is_flag=True, help="Quantization-aware training (int8 file).")
@click.option("--prune", type=float, metavar="SPARSITY", help="Magnitude pruning, e.g. 0.5.")
@click.option("--cluster", type=int, metavar="K", help="Weight clustering to K values per kernel.")
@click.option("--steps", type=int, default=200, show_default=True, help="Steps per technique.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--data", help="Fine-tuning data (default: the run's).")
@click.option("--batch-size", type=int, help="Fine-tuning batch (default: the run's).")
@click.option("--lr", type=float, help="Fine-tuning learning rate (default: the run's / 10).")
@click.option("--eval-data", help="Data the task metric runs on (default: as zoo eval).")
@click.option("--eval-limit", type=click.IntRange(min=1), help="At most this many test images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def optimize_command(model: str, lr: float | None, quiet: bool, **settings) -> None:
    """QAT, pruning and/or clustering of MODEL (tfmot on a tf_keras twin): fine-tunes with its
    own objective, writes the .tflite, the weights and report.json with before/after metrics."""
    from convert.optimize import optimize

    click.echo(optimize(model, learning_rate=lr, quiet=quiet, **settings).summary())
