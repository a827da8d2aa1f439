"""The `zoo` command: each command is a thin call into the library.

TensorFlow is imported only inside commands that build models, so `zoo --help`
answers at once. User errors (:class:`zoo.errors.ZooError`) print as one line and
exit with status 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import click

from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

# The same as convert.tflite.MODES and convert.export.TARGETS, kept here so --help is TF-free.
MODES = ("float32", "float16", "dynamic", "int8", "int16x8")
EXPORT_TARGETS = ("android-gpu", "android-npu", "ios-gpu", "cpu", "edgetpu")
LOWERINGS = ("auto", "cpu", "none")  # convert.tflite.LOWERINGS
_ACCELERATORS_HELP = (
    "Run the file on LiteRT's CPU, GPU and NPU accelerators where this machine has them "
    "and compare with Keras."
)


class _ZooGroup(click.Group):
    """Turns ZooError into a one-line click error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ZooError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deconv-zoo", prog_name="zoo")
def main() -> None:
    """deconv-zoo: transposed-convolution generators, decoders and autoencoders.

    List, inspect and build the registered models; train, evaluate, sample and run
    them; look at the data; convert them to TFLite, check which phone delegates take
    the file, benchmark, optimize (QAT, pruning, clustering) and export a phone bundle.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@main.command("list")
@click.argument("patterns", nargs=-1)
@click.option("--exclude", "-x", multiple=True, help="Wildcard of names to leave out.")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def list_command(patterns: tuple[str, ...], exclude: tuple[str, ...], as_json: bool) -> None:
    """List models whose names match PATTERNS (wildcards, e.g. 'fsrcnn*')."""
    from zoo.catalog import load_catalog
    from zoo.registry import filter_names

    catalog = load_catalog()
    names = filter_names(catalog, patterns or None, exclude or None)
    if not names:
        raise ZooError(f"no model matches {' '.join(patterns)}")
    infos = [catalog[name] for name in names]
    shipped = {i.name: _shipped_headline(i) for i in infos}
    if as_json:
        rows = [{**i.to_dict(), "default_weights": shipped[i.name]} for i in infos]
        click.echo(json.dumps(rows, indent=2))
        return
    rows = [
        (
            i.name,
            i.family,
            i.task,
            f"{i.num_params:,}",
            describe_io(i),
            " ".join(f"{k} {v:.4g}" for k, v in shipped[i.name].items())
            if shipped[i.name]
            else "-",
        )
        for i in infos
    ]
    header = ("name", "family", "task", "params", "input -> output", "default weights")
    click.echo(format_table(header, rows))


def _shipped_headline(info: ModelInfo) -> dict[str, float] | None:
    """{metric: value} measured on the model's shipped weights; None when it ships none."""
    from zoo import pretrained

    path = pretrained.manifest_file(info.name)
    if not path.is_file():
        return None
    # read as is: pretrained.manifest() would import the registry, and with it TensorFlow
    key, value = pretrained.headline_metric(json.loads(path.read_text()), info.task)
    return {key: value}


@main.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata and layers as JSON.")
def info_command(name: str, as_json: bool) -> None:
    """Show a model's metadata and its layer summary."""
    from zoo import registry

    info = registry.info(name)
    model = registry.get(name)
    layers = [
        {
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": _layer_output_shape(layer),
            "params": layer.count_params(),
        }
        for layer in model.layers
    ]
    if as_json:
        click.echo(json.dumps({**info.to_dict(), "layers": layers}, indent=2))
        return
    recipe = info.recipe
    fields = [
        ("name", info.name),
        ("family", info.family),
        ("task", info.task),
        ("description", info.description),
        ("paper", info.paper),
        ("inputs", "; ".join(_describe_spec(spec) for spec in info.inputs)),
        ("output", _describe_spec(info.output)),
        ("params", f"{info.num_params:,}"),
        ("dataset", info.dataset),
        ("export size", "x".join(map(str, info.export_size)) if info.export_size else "fixed"),
        ("baseline", "yes (no transposed convolution)" if info.baseline else "no"),
        (
            "recipe",
            f"{recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} "
            f"lr {recipe.learning_rate:g}, loss {recipe.loss}",
        ),
    ]
    fields += [(f"  {key}", str(value)) for key, value in recipe.options.items()]
    if info.has_discriminator:
        fields.append(("discriminator", "yes (zoo.get_discriminator)"))
    width = max(len(key) for key, _ in fields)
    click.echo("\n".join(f"{key:<{width}}  {value}" for key, value in fields))
    click.echo()
    rows = [
        (layer["name"], layer["type"], str(layer["output_shape"]), f"{layer['params']:,}")
        for layer in layers
    ]
    click.echo(format_table(("layer", "type", "output shape", "params"), rows))


@main.command("build")
@click.argument("patterns", nargs=-1)
@click.option("--exclude", "-x", multiple=True, help="Wildcard of names to leave out.")
def build_command(patterns: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    """Build every model matching PATTERNS and run one forward pass on random input."""
    from zoo import registry
    from zoo.smoke import smoke_test

    names = registry.list_models(patterns or None, exclude or None)
    if not names:
        raise ZooError(f"no model matches {' '.join(patterns)}")
    rows = []
    started = time.perf_counter()
    for name in names:
        result = smoke_test(name)
        rows.append(
            (
                name,
                f"{result.num_params:,}",
                " ".join("x".join(map(str, s)) for s in result.input_shapes),
                "x".join(map(str, result.output_shape)),
                f"{result.seconds:.2f}",
            )
        )
    headers = ("name", "params", "input", "output", "seconds")
    click.echo(format_table(headers, rows))
    click.echo(f"built {len(names)} models in {time.perf_counter() - started:.1f} s")


@main.command("train")
@click.argument("model")
@click.option("--data", help="Dataset name or image folder (default: the recipe's).")
@click.option(
    "--val-data",
    "validation_data",
    help="Validation dataset or folder (default: the test split of --data).",
)
@click.option("--epochs", type=int, help="Total epochs (with --resume: the new total).")
@click.option("--steps-per-epoch", type=int, help="Steps per epoch (default: one data pass).")
@click.option("--batch-size", type=int, help="Global batch size.")
@click.option("--lr", type=float, help="Learning rate.")
@click.option(
    "--out", type=click.Path(file_okay=False), help="Run folder (default runs/MODEL/TIME)."
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option(
    "--strategy",
    type=click.Choice(["auto", "default", "mirrored", "multiworker", "tpu"]),
    help="tf.distribute strategy (default auto: TF_CONFIG workers, else all GPUs, else one).",
)
@click.option("--seed", type=int, help="Random seed.")
@click.option(
    "--checkpoint-every", type=int, help="Also checkpoint every N steps (0: epochs only)."
)
@click.option("--keep-checkpoints", type=int, help="How many checkpoints to keep [3].")
@click.option("--jit/--no-jit", "jit_compile", default=None, help="Compile the step with XLA.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Recipe option, e.g. noise_sigma=50 (see `zoo info MODEL`).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Model builder option, e.g. upsample=resize_conv.",
)
@click.option("--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
def train_command(
    model: str,
    quiet: bool,
    options: tuple[str, ...],
    overrides: tuple[str, ...],
    **settings,
) -> None:
    """Train MODEL with its recipe; prints its last sample grid and the run folder."""
    from zoo.train import train

    out = train(
        model,
        quiet=quiet,
        options=parse_assignments(options),
        overrides=parse_assignments(overrides),
        **settings,
    )
    grids = sorted((out / "samples").glob("*.png"))
    if grids and not quiet:
        click.echo(f"samples: {grids[-1]}")
    click.echo(str(out))


_WEIGHTS_HELP = (
    "A run folder (zoo train --out), a .weights.h5 / .keras file, or default (the shipped weights)."
)


@main.command("eval")
@click.argument("model")
@click.option("--weights", required=True, help=_WEIGHTS_HELP)
@click.option("--data", help="Evaluation data: dataset name or image folder (default: the run's).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many test images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise, kernels, latents.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def eval_command(
    model: str, weights: str, data: str | None, limit: int | None, seed: int, as_json: bool
) -> None:
    """Evaluate a trained MODEL with its task's metric (PSNR/SSIM, mIoU, Frechet distance)."""
    from zoo.evaluate import evaluate

    result = evaluate(model, weights, data=data, limit=limit, seed=seed)
    click.echo(result.to_json() if as_json else result.summary())


@main.command("sample")
@click.argument("model")
@click.option("--weights", required=True, help=_WEIGHTS_HELP)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Grid PNG to write.")
@click.option("--count", type=click.IntRange(min=1), help="Images (per class if conditional).")
@click.option("--seed", type=int, default=0, show_default=True, help="Latents and test picks.")
@click.option("--data", help="Test data for image-to-image models (default: the run's).")
def sample_command(
    model: str, weights: str, out: str, count: int | None, seed: int, data: str | None
) -> None:
    """Write a grid of MODEL's samples: generated images, or test inputs / outputs / targets."""
    from zoo.predict import sample

    click.echo(str(sample(model, weights, out, count=count, seed=seed, data=data)))


@main.command("predict")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--weights", required=True, help=_WEIGHTS_HELP)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
def predict_command(model: str, inputs: tuple[str, ...], weights: str, out: str) -> None:
    """Run image-to-image MODEL on INPUT image files; writes OUT/<name>.png for each."""
    from zoo.predict import predict

    for path in predict(model, weights, inputs, out):
        click.echo(str(path))


@main.command("data")
@click.argument("source", required=False)
@click.option("--split", default="train", show_default=True, help="train, test or all.")
@click.option("--image-size", type=click.IntRange(min=1), help="Resize or crop to this size.")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Convert to gray or RGB.")
def data_command(
    source: str | None, split: str, image_size: int | None, channels: str | None
) -> None:
    """List the datasets, or load SOURCE (a name or an image folder) and summarise it."""
    from zoo import data

    if source is None:
        rows = [(name, data.describe_dataset(name)) for name in data.list_datasets()]
        click.echo(format_table(("dataset", "description"), rows))
        click.echo("\nAlso: an image folder, or tfds:<name> with tensorflow-datasets installed.")
        return
    channel_count = int(channels) if channels else None
    loaded = data.load(source, split=split, image_size=image_size, channels=channel_count)
    click.echo(loaded.summary())


@main.command("convert")
@click.argument("model")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=".tflite to write.")
@click.option("--mode", type=click.Choice(MODES), default="float32", show_default=True)
@click.option("--weights", help=f"{_WEIGHTS_HELP} (default: the initial weights).")
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
    help="auto: transposed convolutions as CONV_2D + DEPTH_TO_SPACE (exact, faster); cpu: "
    "also int8 PReLUs as ReLU convolutions (XNNPACK); none: keep TRANSPOSE_CONV.",
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


@main.command("demo")
@click.option("--model", default="dae_digits", show_default=True, help="Model to train.")
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Run folder (default runs/MODEL/TIME)."
)
@click.option(
    "--runs", type=click.IntRange(min=1), default=10, show_default=True, help="Timed runs."
)
def demo_command(model: str, epochs: int, out: str | None, runs: int) -> None:
    """The whole path on embedded data: train MODEL briefly, evaluate it, convert it to int8,
    check the delegates, benchmark Keras vs float32 vs int8, and print the sample grid."""
    from convert import check
    from convert.bench import BenchReport, bench_model, machine, with_ratios
    from convert.tflite import convert_model
    from zoo.evaluate import evaluate
    from zoo.train import train

    click.echo(f"1/5 train {model} for {epochs} epochs on its embedded data")
    run = train(model, epochs=epochs, out=out, quiet=True)
    click.echo(f"    run folder: {run}")
    click.echo("2/5 evaluate")
    click.echo(evaluate(model, run).summary())
    click.echo("3/5 convert to int8 (calibrated on the model's own data)")
    conversion = convert_model(model, mode="int8", weights=str(run))
    path = conversion.save(run / f"{model}_int8.tflite")
    click.echo(
        f"    {path}: {conversion.size / 1024:,.1f} KB; parity {conversion.parity.summary()}"
    )
    click.echo("4/5 check delegates")
    click.echo(check(path).summary())
    click.echo("5/5 benchmark (LiteRT + XNNPACK, 1 thread)")
    rows = with_ratios(
        bench_model(model, weights=str(run), modes=("keras", "float32", "int8"), runs=runs)
    )
    report = BenchReport(results=rows, settings={"runs": runs}, machine=machine(), memory="")
    click.echo(format_table(*report.rows()))
    grids = sorted((run / "samples").glob("*.png"))
    click.echo(f"sample grid: {grids[-1]}" if grids else f"run folder: {run}")


@main.command("export")
@click.argument("model")
@click.option("--target", required=True, type=click.Choice(EXPORT_TARGETS))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--weights", help=f"{_WEIGHTS_HELP} (default: the initial weights).")
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


@main.command("check")
@click.argument("source", metavar="FILE.tflite|MODEL")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="float32",
    show_default=True,
    help="How a MODEL is converted.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Choice(["gpu", "xnnpack", "nnapi", "hexagon", "qnn", "edgetpu"]),
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
    mode: str,
    targets: tuple[str, ...],
    as_json: bool,
    accelerators: bool,
    strict: bool,
) -> None:
    """Which delegates (GPU, XNNPACK, NNAPI, Hexagon, QNN, Edge TPU) run a .tflite whole:
    the rules' verdicts (fallback ops, versions, dynamic tensors, partitions) and, measured,
    what LiteRT's own accelerators on this machine do with it. A MODEL is converted first."""
    from convert.delegates import check, load_source
    from convert.flatbuffer import load_bytes
    from convert.runtime import measure_file

    path_or_bytes, label = load_source(source, mode=mode)
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


@main.command("bench")
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
@click.option("--weights", help=f"{_WEIGHTS_HELP} For MODEL (default: random init).")
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


@main.command("optimize")
@click.argument("model")
@click.option("--weights", help=f"{_WEIGHTS_HELP} (default: the initial weights).")
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


# === Parsing and formatting ===


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


def _shape(shape: tuple, scale: int = 1) -> str:
    prefix = "" if scale == 1 else str(scale)
    spatial = ("H", "W")
    return "x".join(
        f"{prefix}{spatial[i]}" if dim is None else str(dim) for i, dim in enumerate(shape)
    )


def _describe_spec(spec) -> str:
    low, high = spec.value_range
    bound = "" if spec.bounded else ", unbounded"
    text = f"{spec.name} {_shape(spec.shape)} {spec.dtype} in [{low:g}, {high:g}]{bound}"
    return f"{text} ({spec.description})" if spec.description else text


def _layer_output_shape(layer) -> list | None:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return list(shape)


def format_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
