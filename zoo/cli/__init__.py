"""The `zoo` command: a click group whose commands are each a thin call into the library.

The commands live by theme in :mod:`zoo.cli.models`, :mod:`zoo.cli.data`,
:mod:`zoo.cli.training` and :mod:`zoo.cli.deploy`. TensorFlow is imported only inside
commands that build models, so `zoo --help` answers at once. User errors
(:class:`zoo.errors.ZooError`) print as one line and exit with status 1; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import os

import click

from zoo.cli.data import data_command
from zoo.cli.deploy import (
    bench_command,
    check_command,
    convert_command,
    export_command,
    optimize_command,
)
from zoo.cli.models import build_command, info_command, list_command
from zoo.cli.training import (
    demo_command,
    eval_command,
    predict_command,
    sample_command,
    train_command,
)
from zoo.errors import ZooError
from zoo.files import disk_error
from zoo.logs import quiet_native_logs

__all__ = ["main"]


class _ZooGroup(click.Group):
    """Turns ZooError, and a write the machine refused (disk full, read-only folder), into a
    one-line click error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ZooError as error:
            raise click.ClickException(str(error)) from None
        except Exception as error:
            message = disk_error(error)
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=_ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deconv-zoo", prog_name="zoo")
@click.option(
    "--verbose", is_flag=True, help="Keep TensorFlow's and LiteRT's native log lines on stderr."
)
def main(verbose: bool) -> None:
    """deconv-zoo: transposed-convolution generators, decoders and autoencoders.

    List, inspect and build the registered models; train, evaluate, sample and run
    them; look at the data; convert them to TFLite, check which phone delegates take
    the file, benchmark, optimize (QAT, pruning, clustering) and export a phone bundle.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    if not verbose:
        quiet_native_logs()


main.add_command(list_command)
main.add_command(info_command)
main.add_command(build_command)
main.add_command(train_command)
main.add_command(eval_command)
main.add_command(sample_command)
main.add_command(predict_command)
main.add_command(data_command)
main.add_command(convert_command)
main.add_command(demo_command)
main.add_command(export_command)
main.add_command(check_command)
main.add_command(bench_command)
main.add_command(optimize_command)
