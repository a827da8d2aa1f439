"""Task quality of converted files: a .tflite standing in for its Keras model in ``zoo eval``.

::

    from convert.quality import precision_metrics
    from zoo.weights_io import load_run
    run = load_run("fsrcnn_x3", "default")
    precision_metrics(run, data="../shared/data/sr/Set5")
    # {"keras": {"psnr": ...}, "float16": {...}, "dynamic": {...}, "int8": {...}}

A fully convolutional model's file has a static input shape, so the stand-in converts the
model once per input size the evaluation meets (Set5's five images: five files per mode);
int8 files are calibrated on the same representative samples at every size (mirrored out or
cropped to it), so every size gets the same quantization ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convert.parity import Runner
from convert.tflite import input_shapes
from zoo.tasks import get_task

if TYPE_CHECKING:
    from zoo.weights_io import TrainedModel

CALIBRATED_MODES = ("int8", "int16x8")
REPRESENTATIVE_SAMPLES = 32


class TFLiteModel:
    """A converted model standing in for a Keras model in the zoo's evaluation code.

    ``convert(size)`` gives the file for an input size (None: the model's fixed size); each
    size met is converted once. Calls run the batch one example at a time (batch-1 files).
    """

    def __init__(self, convert: Callable[[tuple[int, int] | None], bytes], like, info) -> None:
        self.convert = convert
        self.inputs, self.outputs, self.name = like.inputs, like.outputs, like.name
        self.info = info
        self.free = any(None in spec.shape for spec in info.inputs)
        self.runners: dict[tuple[int, int] | None, Runner] = {}

    def __call__(self, inputs, training: bool = False) -> np.ndarray:
        del training
        arrays = [
            np.asarray(a, np.float32)
            for a in (inputs if isinstance(inputs, list | tuple) else [inputs])
        ]
        size = tuple(arrays[0].shape[1:3]) if self.free else None
        if size not in self.runners:
            names = [spec.name for spec in self.info.inputs]
            self.runners[size] = Runner(self.convert(size), names)
        runner = self.runners[size]
        return np.concatenate(
            [runner([a[i : i + 1] for a in arrays]) for i in range(len(arrays[0]))]
        )


def fit_samples(samples: list[list[np.ndarray]], shapes) -> list[list[np.ndarray]]:
    """Calibration samples mirrored out (or cropped) to other input shapes."""
    fitted = []
    for sample in samples:
        row = []
        for array, shape in zip(sample, shapes, strict=True):
            if array.ndim == 4 and array.shape[1:3] != tuple(shape[:2]):
                pad_h = max(0, shape[0] - array.shape[1])
                pad_w = max(0, shape[1] - array.shape[2])
                array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
                array = array[:, : shape[0], : shape[1]]
            row.append(array)
        fitted.append(row)
    return fitted


def file_model(
    run: TrainedModel,
    mode: str,
    *,
    samples: list[list[np.ndarray]] | None = None,
    seed: int = 0,
    **options: Any,
) -> TFLiteModel:
    """``run.model`` converted in ``mode``, callable like the Keras model at any input size.

    ``samples`` calibrate int8 / int16x8 (default: the model's representative inputs);
    ``options`` go to :func:`convert.tflite.convert_model` (``rounding``, ``equalize``, ...;
    ``rounding`` defaults to ``"best"``, as ``zoo convert`` and ``zoo export`` write files).
    """
    from convert.representative import representative_inputs
    from convert.tflite import convert_model

    info = run.info
    options.setdefault("rounding", "best")
    if mode in CALIBRATED_MODES and samples is None:
        samples = representative_inputs(info, count=REPRESENTATIVE_SAMPLES, seed=seed)

    def at_size(size: tuple[int, int] | None) -> bytes:
        representative = None
        if samples is not None:
            representative = fit_samples(samples, input_shapes(info, size))
        return convert_model(
            run.model,
            mode=mode,
            size=size,
            info=info,
            representative=representative,
            parity=False,
            **options,
        ).flatbuffer

    return TFLiteModel(at_size, run.model, info)


def task_metrics(
    model, run: TrainedModel, *, data: str, limit: int | None = None, seed: int = 0
) -> dict[str, float]:
    """``zoo eval``'s metrics of ``model`` (Keras 3, tf_keras or a :class:`TFLiteModel`)
    evaluated as ``run`` would be (its task, options and data)."""
    from zoo.evaluate import evaluate_model
    from zoo.weights_io import TrainedModel

    config = run.config
    if get_task(run.info.task).fully_convolutional and "size_multiple" not in config.options:
        from zoo.inference import size_multiple

        multiple = size_multiple(run.model, config.options)
        config = replace(config, options={**config.options, "size_multiple": multiple})
    info = run.info
    if info.recipe.loss == "elbo" and model is not run.model:
        # The ELBO needs the VAE's encoder and decoder parts: a twin or a file has neither.
        info = replace(info, recipe=replace(info.recipe, loss="bce"))
    stand_in = TrainedModel(model=model, info=info, config=config, source=Path("."))
    values = evaluate_model(stand_in, data=data, limit=limit, seed=seed).metrics
    return {key: float(value) for key, value in values.items()}


def precision_metrics(
    run: TrainedModel,
    *,
    modes: Sequence[str] = ("float16", "dynamic", "int8"),
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """The task metrics of ``run``'s Keras model (``"keras"``) and of its file in each mode."""
    from zoo.evaluate import default_data

    source = data or default_data(run)
    results = {"keras": task_metrics(run.model, run, data=source, limit=limit, seed=seed)}
    for mode in modes:
        stand_in = file_model(run, mode, seed=seed)
        results[mode] = task_metrics(stand_in, run, data=source, limit=limit, seed=seed)
    return results


def metric_cost(task: str, reference: float, value: float) -> float:
    """How much worse ``value`` is than ``reference`` on ``task``'s primary metric (dB for
    PSNR; > 0 is worse)."""
    higher_is_better = get_task(task).higher_is_better
    return reference - value if higher_is_better else value - reference
