"""Commands over the registered models: `zoo list`, `zoo info` and `zoo build`."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from zoo.cli.options import describe_io, describe_spec, format_table
from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.registry import ModelInfo


@click.command("list")
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
    # read as is: pretrained.manifest() checks the name against the registry (Keras)
    key, value = pretrained.headline_metric(json.loads(path.read_text()), info.task)
    return {key: value}


@click.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata and layers as JSON.")
def info_command(name: str, as_json: bool) -> None:
    """Show a model's metadata and its layer summary."""
    from zoo import models

    info = models.info(name)
    model = models.create(name)
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
        ("inputs", "; ".join(describe_spec(spec) for spec in info.inputs)),
        ("output", describe_spec(info.output)),
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


def _layer_output_shape(layer) -> list | None:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return list(shape)


@click.command("build")
@click.argument("patterns", nargs=-1)
@click.option("--exclude", "-x", multiple=True, help="Wildcard of names to leave out.")
def build_command(patterns: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    """Build every model matching PATTERNS and run one forward pass on random input."""
    from zoo import models
    from zoo.smoke import smoke_test

    names = models.list_models(patterns or None, exclude or None)
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
