"""Commands that train and run models: `zoo train`, `eval`, `sample`, `predict` and `demo`."""

from __future__ import annotations

import click

from zoo.cli.options import WEIGHTS_HELP, format_table, parse_assignments
from zoo.train.config import STRATEGIES


@click.command("train")
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
@click.option("--overwrite", is_flag=True, help="Replace the run in --out (its own files only).")
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
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
@click.option(
    "--init",
    metavar="[NAME:]WEIGHTS",
    help="Start from trained weights (default, a run folder or a file; NAME: another "
    "model's), layers matched by name and shape.",
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


@click.command("eval")
@click.argument("model")
@click.option("--weights", required=True, help=WEIGHTS_HELP)
@click.option("--data", help="Evaluation data: dataset name or image folder (default: the run's).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many test images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise, kernels, latents.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Task option replacing the run's, e.g. noise_sigma=50, lr_8bit=true.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def eval_command(
    model: str,
    weights: str,
    data: str | None,
    limit: int | None,
    seed: int,
    options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Evaluate a trained MODEL with its task's metric (PSNR/SSIM, mIoU, Frechet distance)."""
    from zoo.evaluate import evaluate

    parsed = parse_assignments(options)
    result = evaluate(model, weights, data=data, limit=limit, seed=seed, options=parsed)
    click.echo(result.to_json() if as_json else result.summary())


@click.command("sample")
@click.argument("model")
@click.option("--weights", required=True, help=WEIGHTS_HELP)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Grid PNG to write.")
@click.option("--count", type=click.IntRange(min=1), help="Images (per class if conditional).")
@click.option("--seed", type=int, default=0, show_default=True, help="Latents and test picks.")
@click.option("--data", help="Test data for image-to-image models (default: the run's).")
def sample_command(
    model: str, weights: str, out: str, count: int | None, seed: int, data: str | None
) -> None:
    """Write a grid of MODEL's samples: generated images, or test inputs / outputs / targets."""
    from zoo.samples import sample

    click.echo(str(sample(model, weights, out, count=count, seed=seed, data=data)))


@click.command("predict")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--weights", required=True, help=WEIGHTS_HELP)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--kernel",
    help="Non-blind deblurring: the blur kernel, gaussian:SIGMA, motion:LENGTH[:ANGLE] "
    "(pixels, degrees) or a .npy / image file.",
)
def predict_command(
    model: str, inputs: tuple[str, ...], weights: str, out: str, kernel: str | None
) -> None:
    """Run image-to-image MODEL on INPUT image files; writes OUT/<name>.png for each."""
    from zoo import models
    from zoo.predict import predict
    from zoo.tasks.deblur import parse_kernel

    options = None
    if kernel is not None:
        if models.info(model).task != "deblur":
            raise click.ClickException(f"--kernel is for deblurring models, not {model}")
        options = {"kernel": parse_kernel(kernel)}
    for path in predict(model, weights, inputs, out, options=options):
        click.echo(str(path))


@click.command("demo")
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
