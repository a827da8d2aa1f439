"""`zoo data`: list the datasets, or load one and summarise it."""

from __future__ import annotations

import click

from zoo.cli.options import format_table


@click.command("data")
@click.argument("source", required=False)
@click.option("--split", default="train", show_default=True, help="train, test or all.")
@click.option("--image-size", type=click.IntRange(min=1), help="Resize or crop to this size.")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Convert to gray or RGB.")
@click.option(
    "--load", is_flag=True, help="Decode a folder into memory too (default: list it only)."
)
def data_command(
    source: str | None, split: str, image_size: int | None, channels: str | None, load: bool
) -> None:
    """List the datasets, or summarise SOURCE (a name or an image folder).

    A folder is listed, not decoded: its files, bytes, classes or masks, and the sizes in a
    sample of headers, in the time a directory walk takes (training streams it). --load
    decodes it as well.
    """
    from pathlib import Path

    from zoo import data

    if source is None:
        rows = [(name, data.describe_dataset(name)) for name in data.list_datasets()]
        click.echo(format_table(("dataset", "description"), rows))
        click.echo("\nAlso: an image folder, or tfds:<name> with tensorflow-datasets installed.")
        return
    if source not in data.list_datasets() and Path(source).expanduser().is_dir() and not load:
        click.echo(data.list_folder(source, split).summary())
        return
    channel_count = int(channels) if channels else None
    loaded = data.load(source, split=split, image_size=image_size, channels=channel_count)
    click.echo(loaded.summary())
