"""The tasks: one module per task, each owning its contract, objective, metric and I/O.

A task module (see :mod:`zoo.tasks.base`) ends with a :class:`Task`; add a task with one
module and one line in the import and the tuple below. Family files spread a task's
contract into their registration::

    from zoo.tasks.segment import segmentation
    register(family="unet", num_params=..., paper=PAPER, **segmentation(multiple=16))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.registry import ModelInfo, objective_of
from zoo.tasks import (
    deblur,
    denoise,
    generate,
    generate_conditional,
    reconstruct,
    segment,
    super_resolve,
    translate,
)
from zoo.tasks.base import Task
from zoo.tasks.objective import Objective

if TYPE_CHECKING:
    from zoo.train.config import TrainConfig

TASKS: dict[str, Task] = {
    module.TASK.name: module.TASK
    for module in (
        generate,
        generate_conditional,
        translate,
        segment,
        super_resolve,
        reconstruct,
        denoise,
        deblur,
    )
}


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown one is a ZooError."""
    try:
        return TASKS[name]
    except KeyError:
        raise ZooError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}") from None


def classifies_pixels(task: str) -> bool:
    """Whether ``task``'s output is class probabilities per pixel (False for a task the zoo
    does not know, such as a model from outside the registry's)."""
    return task in TASKS and TASKS[task].per_pixel_classes


def objective_for(info: ModelInfo, config: TrainConfig) -> Objective:
    """The objective that trains ``info``: its family's own (the VAE's ELBO), else its task's."""
    objective = objective_of(info.name) or get_task(info.task).objective
    return objective(info, config)


def sample_row_labels(task: str, rows: int) -> list[str] | None:
    """Labels of a task's ``rows`` sample rows, or None when its rows are all samples."""
    names = get_task(task).sample_rows
    return list(names) if names and len(names) == rows else None


__all__ = [
    "TASKS",
    "Task",
    "classifies_pixels",
    "get_task",
    "objective_for",
    "sample_row_labels",
]
