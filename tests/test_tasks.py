"""The task modules: each declares its objective, metric and hooks once, and the commands
(zoo train, eval, predict, sample) find them by the model's task alone."""

from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.tasks import TASKS, get_task, objective_for, sample_row_labels
from zoo.tasks.objective import Objective
from zoo.train.config import TrainConfig
from zoo.weights_io import TrainedModel


def test_every_registered_task_has_a_module():
    assert set(TASKS) == {zoo.info(n).task for n in zoo.list_models()}
    assert tuple(TASKS) == zoo.TASKS
    with pytest.raises(zoo.ZooError, match="unknown task 'upscale'; expected one of"):
        get_task("upscale")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_task_declares_what_the_commands_need(name):
    task = TASKS[name]
    assert task.name == name
    assert issubclass(task.objective, Objective)
    assert task.metric and isinstance(task.higher_is_better, bool)
    if task.generates:  # no input image: zoo sample draws latents, zoo predict refuses
        assert task.sample_pairs is None and task.grid_rows is None and not task.sample_rows
    else:
        assert task.sample_pairs and task.grid_rows and len(task.sample_rows) in (2, 3)


def test_a_family_may_train_with_its_own_objective():
    from zoo.models.vae import Variational
    from zoo.tasks.reconstruct import Reconstruct

    vae, cae = zoo.info("vae_tiny"), zoo.info("cae_tiny")
    assert type(objective_for(vae, TrainConfig.from_recipe(vae))) is Variational
    assert type(objective_for(cae, TrainConfig.from_recipe(cae))) is Reconstruct


@pytest.mark.parametrize("name", ["fsrcnn_tiny", "dae_tiny", "deblur_tiny", "unet_tiny"])
def test_sample_grids_take_the_rows_their_task_labels(name):
    """The sample pairs and grid rows of one image-to-image task fit together: as many rows
    as the task names, each with one image per test input, all in [0, 1]."""
    info = zoo.info(name)
    run = TrainedModel(zoo.get(name), info, TrainConfig.from_recipe(info), Path("."))
    task = get_task(run.info.task)
    inputs, targets = task.sample_pairs(run, 3, 0, run.info.dataset)
    rows = task.grid_rows(run, inputs, targets)
    assert sample_row_labels(task.name, len(rows)) == list(task.sample_rows)
    assert all(len(row) == 3 for row in rows)
    for row in rows:
        for image in row:
            image = np.asarray(image)
            assert image.ndim in (2, 3) and image.min() >= 0.0 and image.max() <= 1.0
