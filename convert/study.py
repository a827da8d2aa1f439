"""The quantization study: one model, every precision, per up-block (transpose, resize-conv,
sub-pixel, each with and without the residual skip), post-training and after QAT.

::

    from convert.study import quantization_study
    quantization_study("fsrcnn_x3", data="../shared/data/sr/Set5")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from convert.optimize import optimize
from convert.quality import REPRESENTATIVE_SAMPLES, metric_cost, precision_metrics

if TYPE_CHECKING:
    from zoo.weights_io import TrainedModel

STUDY_MODES = ("float16", "dynamic", "int8")
SIZE_MODES = ("float32", "float16", "dynamic", "int8")
DEFAULT_QAT_STEPS = 2000


def run_upsample(run: TrainedModel) -> str:
    """The up-block ``run`` was built with: its ``upsample=`` override, else the builders'
    default, ``"transpose"``."""
    return str(run.config.model_overrides.get("upsample", "transpose"))


def run_arm(run: TrainedModel) -> str:
    """The study arm ``run`` belongs to: its up-block, ``+residual`` when it was built
    with ``residual=True`` (a fixed bilinear skip around the network, FSRCNN's option)."""
    residual = bool(run.config.model_overrides.get("residual", False))
    return run_upsample(run) + ("+residual" if residual else "")


def study_arms() -> list[str]:
    """Every arm a study can hold, in the order it reports them."""
    from zoo.registry import UPSAMPLE_MODES

    return [arm for mode in UPSAMPLE_MODES for arm in (mode, f"{mode}+residual")]


def file_sizes(run: TrainedModel, modes: Sequence[str] = SIZE_MODES) -> dict[str, int]:
    """Bytes of ``run.model``'s file in each mode at its export size (as ``zoo export``)."""
    from convert.tflite import convert_model

    return {
        mode: convert_model(run.model, mode=mode, info=run.info, parity=False).size
        for mode in modes
    }


def _check_source(source: str, what: str) -> None:
    """A ZooError unless ``source`` is an existing folder or a dataset name the zoo knows."""
    from zoo.data import at_hand, list_datasets
    from zoo.errors import ZooError

    if not at_hand(source):
        raise ZooError(
            f"{what} {source} not found (a folder or one of {', '.join(list_datasets())})"
        )


def quantization_study(
    model: str,
    weights: str | Path,
    *,
    data: str | None = None,
    limit: int | None = None,
    qat_steps: int = DEFAULT_QAT_STEPS,
    qat_data: str | None = None,
    data_limit: int | None = None,
    work: str | Path | None = None,
    modes: Sequence[str] = STUDY_MODES,
    seed: int = 0,
) -> dict:
    """One trained model in float and quantized: task metrics, file sizes and their cost.

    ``weights``: a run folder, weights file or ``"default"``. Measured on ``data`` (default:
    as ``zoo eval``), at most ``limit`` images, as :func:`precision_metrics` does: the Keras
    model (``"keras"``) and its file in each of ``modes`` (default float16, dynamic range,
    int8 post-training quantization). With ``qat_steps`` > 0 also ``"int8_qat"``: the int8
    file after that many quantization-aware training steps (:func:`convert.optimize.optimize`
    on ``qat_data``, default the run's own training data when it is at hand, else the
    model's dataset; at most ``data_limit`` images; in a temporary folder inside ``work``).
    optimize measures int8 post-training quantization with the same calibration samples, so
    with QAT its figure and file stand for ``"int8"``.

    Returns a dict: ``metrics`` (mode -> every metric of ``zoo eval``), ``metric`` (the
    task's primary one), ``cost`` (mode -> how much worse than Keras on it, > 0 a loss; dB
    for PSNR), ``bytes`` (each file at the export size), ``upsample`` and the settings.
    """
    import tempfile
    import time

    from zoo.errors import ZooError
    from zoo.evaluate import default_data
    from zoo.tasks import get_task
    from zoo.weights_io import load_run

    started = time.perf_counter()
    if qat_steps < 0:
        raise ZooError(f"qat_steps must be 0 (no QAT) or more, got {qat_steps}")
    run = load_run(model, weights)
    source = data or default_data(run)
    _check_source(source, "evaluation data")
    if qat_steps:
        _check_source(qat_data or run.config.data, "QAT fine-tuning data")
    task = get_task(run.info.task)
    metric, higher_is_better = task.metric, task.higher_is_better
    modes = tuple(modes)
    ptq_from_qat = bool(qat_steps) and "int8" in modes  # optimize measures it anyway
    own = tuple(m for m in modes if not (ptq_from_qat and m == "int8"))
    metrics = precision_metrics(run, modes=own, data=source, limit=limit, seed=seed)
    sizes = file_sizes(run, own if qat_steps else ("float32", *own))
    qat = None
    if qat_steps:
        with tempfile.TemporaryDirectory(prefix="zoo-qat-", dir=work) as folder:
            report = optimize(
                model,
                out=Path(folder) / "qat",
                weights=str(weights),
                qat=True,
                steps=qat_steps,
                data=qat_data,
                eval_data=source,
                eval_limit=limit,
                data_limit=data_limit,
                representative_count=REPRESENTATIVE_SAMPLES,
                seed=seed,
            ).report
        files = report["files"]
        if ptq_from_qat:
            metrics["int8"] = report["metrics"]["ptq_int8"]
            sizes["int8"] = files["int8_ptq"]["bytes"]
        metrics["int8_qat"] = report["metrics"]["optimized_tflite"]
        sizes.update(float32=files["float32_before"]["bytes"], int8_qat=files["tflite"]["bytes"])
        qat = {
            "steps": qat_steps,
            "data": report["fine_tune"]["data"],
            "learning_rate": report["fine_tune"]["learning_rate"],
            "keras": report["metrics"]["optimized"],  # the fake-quantized model in Keras
            "seconds": report["seconds"],
        }
    reference = metrics["keras"].get(metric)
    cost = {
        mode: metric_cost(run.info.task, reference, values[metric])
        for mode, values in metrics.items()
        if mode != "keras" and reference is not None and metric in values
    }
    order = ("keras", *modes, "int8_qat")
    return {
        "model": model,
        "upsample": run_upsample(run),
        "arm": run_arm(run),
        "weights": str(weights),
        "metric": metric,
        "higher_is_better": higher_is_better,
        "eval_data": source,
        "limit": limit,
        "metrics": {mode: metrics[mode] for mode in order if mode in metrics},
        "cost": {mode: cost[mode] for mode in order if mode in cost},
        "bytes": {mode: sizes[mode] for mode in ("float32", *order) if mode in sizes},
        "qat": qat,
        "seconds": round(time.perf_counter() - started, 1),
    }


def check_study_runs(model: str, runs: dict[str, str | Path]) -> dict[str, str]:
    """``runs`` (arm -> run folder, weights file or ``"default"``) checked and in the
    order of :func:`study_arms`: each key an up-block, or an up-block ``+residual``, and each
    run of ``model`` built that way (one-line ZooError otherwise)."""
    from zoo.errors import ZooError
    from zoo.weights_io import load_run

    arms = study_arms()
    if not runs:
        raise ZooError("name at least one run (up-block -> weights)")
    for arm, weights in runs.items():
        if arm not in arms:
            raise ZooError(f"unknown up-block {arm!r}; expected one of {', '.join(arms)}")
        if str(weights) != "default" and not Path(weights).expanduser().exists():
            raise ZooError(f"{arm}: {weights} not found; pass a run folder of zoo train")
    checked = {}
    for arm in (a for a in arms if a in runs):
        try:
            built = run_arm(load_run(model, runs[arm]))
        except ZooError as error:
            raise ZooError(f"{arm}: {error}") from None
        if built != arm:
            raise ZooError(f"{arm}: {runs[arm]} was trained as {built}, not {arm}")
        checked[arm] = str(runs[arm])
    return checked


def upsample_study(model: str, runs: dict[str, str | Path], **settings) -> list[dict]:
    """:func:`quantization_study` of each up-block's run (``runs``: up-block -> weights),
    all checked first (:func:`check_study_runs`); ``settings`` go to each study."""
    checked = check_study_runs(model, runs)
    return [quantization_study(model, weights, **settings) for weights in checked.values()]
