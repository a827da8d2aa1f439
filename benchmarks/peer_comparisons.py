"""The zoo's models beside their classical and baseline peers, on the same data and protocol.

::

    from benchmarks import peer_comparisons as peers
    result = peers.deblur_comparison("runs/deblur")       # learned vs Richardson-Lucy / Wiener
    print(peers.to_markdown(result))
    peers.denoise_comparison("default")                   # dae_photos vs TV / non-local means
    peers.super_resolution_comparison("../shared/data/sr/Set5", weights={"fsrcnn_x3": "runs/x3"})

Three comparisons, each a dict of rows (one per method) that ``benchmarks/peers.py`` writes:

- super-resolution: FSRCNN (and FSRCNN-s) against ESPCN (the zoo's baseline without
  transposed convolution) and bicubic, per scale, by ``zoo eval``'s protocol
  (:func:`zoo.evaluate.evaluate`: Y channel, antialiased bicubic downscaling, ``scale``
  pixels shaved), with each model's cost: parameters, multiply-accumulates
  (:func:`zoo.arithmetic.model_macs`) and host TFLite latency (:func:`convert.bench.bench_model`).
- deblurring: the learned model against scikit-image's ``richardson_lucy`` and ``wiener``
  on exactly the inputs ``zoo eval`` uses (:func:`zoo.tasks.restoration.cases`: each test image
  blurred by a kernel of the run's bank, drawn per image, plus the run's noise). The
  classical methods are non-blind: they get each image's true kernel, which favours them.
- denoising: the learned model against ``denoise_tv_chambolle`` and ``denoise_nl_means``
  (given the true noise sigma) on ``zoo eval``'s noisy test images.

The classical methods and their fair tuning are :mod:`zoo.classical`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo import metrics
from zoo.classical import (
    DEBLUR_METHODS,
    DENOISE_METHODS,
    TUNE_IMAGES,
    TUNE_SIZE,
    Log,
    Tuning,
    blurred_tuning_pairs,
    classical_deblur,
    classical_denoise,
    describe_kernel,
    held_out_images,
    noisy_tuning_pairs,
    tune_deblur,
    tune_denoise,
)
from zoo.errors import ZooError
from zoo.models import info as model_info

SR_MODELS = tuple(
    f"{family}_x{scale}" for family in ("fsrcnn", "fsrcnn_s", "espcn") for scale in (2, 3, 4)
)
LATENCY_MODES = ("float32", "int8")


# === Comparisons ===


def resolve_weights(name: str, overrides: Mapping[str, str | Path] | None = None) -> str | None:
    """``name``'s weights: an override, else ``"default"`` when shipped, else None."""
    from zoo import pretrained

    model_info(name)  # an unknown name is a one-line UnknownModelError
    if overrides and name in overrides:
        return str(overrides[name])
    return "default" if name in pretrained.shipped() else None


def _score(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"psnr": metrics.psnr(prediction, target), "ssim": metrics.ssim(prediction, target)}


def _mean_scores(per_image: list[dict], method: str) -> dict[str, float]:
    return {
        key: float(np.mean([image["scores"][method][key] for image in per_image]))
        for key in ("psnr", "ssim")
    }


def _margin(rows: list[dict]) -> dict[str, Any]:
    """Each learned row's PSNR and SSIM minus those of the classical row with the best PSNR."""
    classical = [row for row in rows if row["kind"] == "classical"]
    best = max(classical, key=lambda row: row["psnr"])
    return {
        "best_classical": best["method"],
        "learned": {
            row["model"]: {
                "psnr_db": row["psnr"] - best["psnr"],
                "ssim": row["ssim"] - best["ssim"],
            }
            for row in rows
            if row["kind"] == "learned"
        },
    }


def _weights_label(run) -> str:
    """``default`` for the shipped weights, else the path the weights came from."""
    from zoo import pretrained

    return "default" if run.source == pretrained.weights_file(run.info.name) else str(run.source)


def _learned_row(run, scores: dict[str, float], size: tuple[int, int]) -> dict[str, Any]:
    from zoo.arithmetic import model_macs

    macs = model_macs(run.model, size)
    return {
        "model": run.info.name,
        "method": run.info.name,
        "kind": "learned",
        **scores,
        "params": run.info.num_params,
        "macs_per_pixel": macs / (size[0] * size[1]),
        "weights": _weights_label(run),
    }


def _check_task(run, task: str) -> None:
    if run.info.task != task:
        raise ZooError(f"{run.info.name} is a {run.info.task} model, not a {task} model")


def _restoration_setup(run, task: str, data: str | None, limit: int | None):
    from zoo.evaluate import default_data
    from zoo.inference import model_channels, size_multiple
    from zoo.tasks.base import whole_images

    _check_task(run, task)
    source = data or default_data(run)
    images, names = whole_images(source, limit=limit)
    return source, images, names, model_channels(run.model), size_multiple(run.model, run.options)


def deblur_comparison(
    runs: Mapping[str, str | Path],
    *,
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    tune_images: int = TUNE_IMAGES,
    tune_size: int = TUNE_SIZE,
    grids: Mapping[str, Sequence[float]] | None = None,
    log: Log = None,
) -> dict[str, Any]:
    """Learned deblurring models (``runs``: name -> weights) against Richardson-Lucy and
    Wiener given the true kernel; a non-blind model gets the true kernel too.

    Inputs are exactly ``zoo eval``'s for the first model (``data`` defaults to its test data;
    ``limit`` images; ``seed`` as ``zoo eval --seed``); every model must share its kernels and
    noise. Each classical method's parameter is tuned per kernel on ``tune_images`` held-out
    crops (``tune_size`` pixels) blurred by that kernel; ``grids`` replaces the default grids
    (method -> values). Returns the rows (blurred input, each method, each learned model),
    per-image scores, the tunings and each learned model's margin.
    """
    from zoo.inference import size_multiple
    from zoo.tasks import deblur, restoration
    from zoo.weights_io import load_run

    if not runs:
        raise ZooError("deblur_comparison needs at least one learned model")
    loaded = [load_run(name, weights) for name, weights in runs.items()]
    run = loaded[0]
    source, images, names, channels, _ = _restoration_setup(run, "deblur", data, limit)
    kernels = deblur.kernels(run.options)
    noise = float(deblur.noise_sigma(run.options))
    for other in loaded[1:]:
        _check_task(other, "deblur")
        theirs = deblur.kernels(other.options)
        same = (
            deblur.noise_sigma(other.options) == noise
            and len(theirs) == len(kernels)
            and all(np.array_equal(a, b) for a, b in zip(theirs, kernels, strict=True))
        )
        if not same:
            raise ZooError(
                f"{other.info.name} blurs by other kernels or noise than {run.info.name}"
            )
    multiples = {other.info.name: size_multiple(other.model, other.options) for other in loaded}
    held_out, held_out_names = held_out_images(
        source, count=tune_images, size=tune_size, seed=seed, channels=channels
    )
    grids = dict(grids or {})
    tunings: dict[int, dict[str, Tuning]] = {}
    per_image = []
    for index, k, clean, blurred in restoration.cases(run, images, seed, kernels, deblur.degrade):
        name = names[index]
        kernel = kernels[k]
        if k not in tunings:
            pairs = blurred_tuning_pairs(held_out, kernel, noise_sigma=noise, seed=seed)
            tunings[k] = {
                method: tune_deblur(method, kernel, pairs, grid=grids.get(method))
                for method in DEBLUR_METHODS
            }
        outputs = {"blurred": blurred}
        for method, tuning in tunings[k].items():
            outputs[method] = classical_deblur(blurred, kernel, method=method, value=tuning.value)
        for other in loaded:
            model = other.info.name
            outputs[model] = deblur.restore(
                other.model, other.info, blurred, kernel, multiples[model]
            )
        scores = {method: _score(out, clean) for method, out in outputs.items()}
        per_image.append(
            {
                "image": name,
                "kernel": k,
                "kernel_label": describe_kernel(kernel),
                "parameters": {m: t.value for m, t in tunings[k].items()},
                "scores": scores,
            }
        )
        if log:
            text = ", ".join(f"{m} {s['psnr']:.2f}" for m, s in scores.items())
            log(f"deblur {name} ({describe_kernel(kernel)}): {text} dB")
    rows: list[dict[str, Any]] = [
        {"model": "blurred input", "method": "blurred", "kind": "input"}
        | _mean_scores(per_image, "blurred")
    ]
    for method, (label, parameter, _) in DEBLUR_METHODS.items():
        rows.append(
            {
                "model": f"{label} (true kernel)",
                "method": method,
                "kind": "classical",
                **_mean_scores(per_image, method),
                "parameter": parameter,
                "values": [image["parameters"][method] for image in per_image],
            }
        )
    for other in loaded:
        scores = _mean_scores(per_image, other.info.name)
        rows.append(_learned_row(other, scores, _export(other)))
    return {
        "section": "deblur",
        "models": {other.info.name: _weights_label(other) for other in loaded},
        "data": source,
        "samples": len(per_image),
        "images": len(images),
        "seed": seed,
        "noise_sigma": noise,
        "kernels": len(kernels),
        "protocol": (
            f"zoo eval's deblur inputs: each test image blurred (mirrored border) by each of the "
            f"run's {len(kernels)} kernels in turn (seed {seed} + case index), plus "
            f"Gaussian noise of sigma {noise:g}/255, clipped to [0, 1]; PSNR and SSIM of the "
            "whole restored image (RGB, data range 1). Classical methods are non-blind: they "
            "get the true kernel, as do the non-blind learned models."
        ),
        "tuning": {
            "scope": "per kernel",
            "criterion": "mean PSNR",
            "held_out": held_out_names,
            "note": (
                f"each kernel that blurs a test image gets its own parameter, tuned on "
                f"{len(held_out)} held-out crops (never test images) blurred by that kernel "
                f"with noise of the same sigma and other seeds, one channel per crop"
            ),
            "by_kernel": {
                str(k): {"kernel": describe_kernel(kernels[k])}
                | {m: t.to_dict() for m, t in found.items()}
                for k, found in sorted(tunings.items())
            },
        },
        "rows": rows,
        "per_image": per_image,
        "margin": _margin(rows),
        "note": (
            f"On zoo eval's blurred test images ({len(images)}, noise sigma {noise:g}/255); "
            "Richardson-Lucy and Wiener get each image's true kernel (non-blind, which favours "
            "them), their parameter tuned per kernel on held-out train photos."
        ),
    }


def denoise_comparison(
    weights: str | Path = "default",
    *,
    model: str = "dae_photos",
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    tune_images: int = TUNE_IMAGES,
    tune_size: int = TUNE_SIZE,
    methods: Sequence[str] = tuple(DENOISE_METHODS),
    grids: Mapping[str, Sequence[float]] | None = None,
    log: Log = None,
) -> dict[str, Any]:
    """The learned denoising ``model`` against TV (Chambolle) and non-local means.

    Inputs are exactly ``zoo eval``'s: Gaussian noise of the run's ``noise_sigma`` with
    seed ``seed`` + image index. Each classical parameter is tuned once (globally) on
    ``tune_images`` held-out images with noise of the same sigma.
    """
    from zoo.inference import run_whole
    from zoo.tasks import denoise, restoration
    from zoo.weights_io import load_run

    run = load_run(model, weights)
    source, images, names, channels, multiple = _restoration_setup(run, "denoise", data, limit)
    sigma = float(run.options.get("noise_sigma", 25))
    held_out, held_out_names = held_out_images(
        source, count=tune_images, size=tune_size, seed=seed, channels=channels
    )
    pairs = noisy_tuning_pairs(held_out, sigma=sigma, seed=seed)
    grids = dict(grids or {})
    tunings = {m: tune_denoise(m, pairs, sigma=sigma, grid=grids.get(m)) for m in methods}
    per_image = []
    for index, _, clean, noisy in restoration.cases(run, images, seed, [None], denoise.degrade):
        name = names[index]
        outputs = {"noisy": noisy}
        for method, tuning in tunings.items():
            outputs[method] = classical_denoise(
                noisy, method=method, value=tuning.value, sigma=sigma
            )
        outputs[run.info.name] = np.clip(run_whole(run.model, noisy, multiple), 0.0, 1.0)
        scores = {method: _score(out, clean) for method, out in outputs.items()}
        per_image.append({"image": name, "scores": scores})
        if log:
            text = ", ".join(f"{m} {s['psnr']:.2f}" for m, s in scores.items())
            log(f"denoise {name}: {text} dB")
    rows: list[dict[str, Any]] = [
        {"model": "noisy input", "method": "noisy", "kind": "input"}
        | _mean_scores(per_image, "noisy")
    ]
    for method, tuning in tunings.items():
        label, parameter, _ = DENOISE_METHODS[method]
        rows.append(
            {
                "model": label,
                "method": method,
                "kind": "classical",
                **_mean_scores(per_image, method),
                "parameter": parameter,
                "values": [tuning.value],
            }
        )
    rows.append(_learned_row(run, _mean_scores(per_image, run.info.name), _export(run)))
    return {
        "section": "denoise",
        "model": model,
        "weights": _weights_label(run),
        "data": source,
        "samples": len(images),
        "seed": seed,
        "noise_sigma": sigma,
        "protocol": (
            f"zoo eval's denoise inputs: Gaussian noise of sigma {sigma:g}/255 (seed {seed} + "
            "image index), clipped to [0, 1]; PSNR and SSIM of the whole restored image "
            "(data range 1). Non-local means is told the true sigma."
        ),
        "tuning": {
            "scope": "global",
            "criterion": "mean PSNR",
            "held_out": held_out_names,
            "note": (
                f"one parameter per method, tuned on {len(held_out)} held-out images (never "
                f"test images) with noise of sigma {sigma:g} and other seeds"
            ),
            "methods": {m: t.to_dict() for m, t in tunings.items()},
        },
        "rows": rows,
        "per_image": per_image,
        "margin": _margin(rows),
        "note": (
            f"On zoo eval's noisy test images ({len(images)}, sigma {sigma:g}/255); the "
            "classical parameters tuned on held-out train images; non-local means is told "
            "the true sigma."
        ),
    }


def _export(run) -> tuple[int, int]:
    return tuple(run.info.export_size or (256, 256))


def bicubic_scores(data: str | Path, scale: int, *, limit: int | None = None) -> dict[str, float]:
    """Mean Y-PSNR and SSIM of bicubic upscaling on ``data`` by ``zoo eval``'s SR protocol."""
    from zoo.tasks.base import whole_images

    images, _ = whole_images(str(data), limit=limit)
    return _bicubic(images, scale)


def _bicubic(images: Sequence[np.ndarray], scale: int) -> dict[str, float]:
    from zoo.inference import bicubic_upscale
    from zoo.tasks.super_resolve import sr_pair

    scores = []
    for image in images:
        lr, hr = sr_pair(image, scale, 1)
        scores.append(metrics.super_resolution_metrics(bicubic_upscale(lr, scale), hr, scale=scale))
    return {key: float(np.mean([s[key] for s in scores])) for key in ("psnr", "ssim")}


def super_resolution_comparison(
    data: str | Path,
    *,
    models: Sequence[str] = SR_MODELS,
    weights: Mapping[str, str | Path] | None = None,
    limit: int | None = None,
    seed: int = 0,
    latency: bool = True,
    latency_modes: Sequence[str] = LATENCY_MODES,
    runs: int = 20,
    warmup: int = 3,
    log: Log = None,
) -> dict[str, Any]:
    """Each super-resolution model in ``models`` against bicubic (and each other), per scale.

    Quality: :func:`zoo.evaluate.evaluate_model` on the folder ``data`` (e.g. Set5).
    Cost: parameters, multiply-accumulates at the export size (the low-resolution input)
    and per output pixel, and with ``latency`` the median ms of the TFLite file in each of
    ``latency_modes`` (LiteRT with XNNPACK, 1 thread, batch 1 at the export size, ``runs``
    timed calls). A model with neither shipped weights nor an entry in ``weights`` is
    listed under ``skipped``.
    """
    from zoo.arithmetic import model_macs
    from zoo.evaluate import evaluate_model
    from zoo.tasks.base import whole_images
    from zoo.weights_io import load_run

    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise ZooError(f"super-resolution data {folder} is not a folder")
    infos = [model_info(name) for name in models]
    for info in infos:
        if info.task != "super_resolve":
            raise ZooError(f"{info.name} is a {info.task} model, not a super-resolution model")
    scales = sorted({int(info.recipe.options["scale"]) for info in infos})
    images, names = whole_images(str(folder), limit=limit)
    rows: list[dict[str, Any]] = []
    skipped = []
    for scale in scales:
        rows.append(
            {
                "model": "bicubic",
                "scale": scale,
                "method": "bicubic",
                "kind": "baseline",
                **_bicubic(images, scale),
                "params": 0,
            }
        )
    for info in infos:
        scale = int(info.recipe.options["scale"])
        chosen = resolve_weights(info.name, weights)
        if chosen is None:
            reason = f"no shipped weights; pass --weights {info.name}=RUN"
            skipped.append({"model": info.name, "reason": reason})
            if log:
                log(f"sr {info.name}: skipped ({reason})")
            continue
        run = load_run(info.name, chosen)
        evaluation = evaluate_model(run, data=str(folder), limit=limit, seed=seed)
        size = tuple(info.export_size or (128, 128))
        macs = model_macs(run.model, size)
        row: dict[str, Any] = {
            "model": info.name,
            "scale": scale,
            "method": info.family,
            "kind": "baseline" if info.baseline else "learned",
            "psnr": evaluation.metrics["psnr"],
            "ssim": evaluation.metrics["ssim"],
            "params": info.num_params,
            "export_size": list(size),
            "macs": macs,
            "macs_per_output_pixel": macs / (size[0] * size[1] * scale * scale),
            "weights": _weights_label(run),
        }
        if latency:
            row.update(_latency(info.name, chosen, latency_modes, runs=runs, warmup=warmup))
        rows.append(row)
        if log:
            timing = ", ".join(f"{m} {v:.3g} ms" for m, v in row.get("latency_ms", {}).items())
            log(f"sr {info.name}: {row['psnr']:.2f} dB, {row['ssim']:.4f} SSIM; {timing}")
    rows.sort(key=lambda row: row["scale"])  # stable: bicubic first, then models in order
    return {
        "section": "super_resolution",
        "data": str(folder),
        "samples": len(images),
        "images": names,
        "seed": seed,
        "protocol": (
            "zoo eval's super-resolution protocol: each image cropped to a multiple of the "
            "scale, its BT.601 Y channel (8-bit) downscaled by antialiased bicubic (MATLAB's "
            "imresize), upscaled, and Y-PSNR / SSIM computed in 0..255 with `scale` pixels "
            "shaved from every border."
        ),
        "latency": (
            {
                "modes": list(latency_modes),
                "threads": 1,
                "runs": runs,
                "warmup": warmup,
                "how": "LiteRT interpreter with XNNPACK, batch 1 at the export size "
                "(the low-resolution input), median of the timed invoke() calls",
            }
            if latency
            else None
        ),
        "rows": rows,
        "skipped": skipped,
        "note": (
            f"Y-PSNR / SSIM by zoo eval's protocol on {folder.name} ({len(images)} images); "
            "MACs for one low-resolution input at the export size and per output pixel"
            + ("; TFLite latency: median ms, 1 thread, XNNPACK." if latency else ".")
        ),
    }


def _latency(
    name: str, weights: str, modes: Sequence[str], *, runs: int, warmup: int
) -> dict[str, Any]:
    """{"latency_ms": {mode: median}, "latency_failures": {mode: message}} for one model."""
    from convert.bench import bench_model

    failures: dict[str, str] = {}
    results = bench_model(
        name,
        weights=weights,
        modes=modes,
        threads=(1,),
        runs=runs,
        warmup=warmup,
        failures=failures,
    )
    out: dict[str, Any] = {"latency_ms": {r.mode: r.median_ms for r in results}}
    if failures:
        out["latency_failures"] = failures
    return out


# === Markdown ===


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _parameters(row: dict[str, Any]) -> str:
    values = row.get("values")
    if not values:
        return "-"
    shown = ", ".join(f"{v:.3g}" for v in values)
    return f"{row['parameter']} {shown}"


def _quantity(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def _title(row: dict[str, Any]) -> str:
    return f"{row['model']} (learned)" if row["kind"] == "learned" else row["model"]


def restoration_markdown(result: dict[str, Any]) -> str:
    """The rows of a deblur / denoise comparison as a Markdown table, then the margin."""
    base = result["rows"][0]
    lines = [
        "| method | tuned parameter | PSNR (dB) | SSIM | vs input (dB) | params | MACs / px |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        gain = "-" if row is base else f"{row['psnr'] - base['psnr']:+.2f}"
        lines.append(
            f"| {_title(row)} | {_parameters(row)} | {row['psnr']:.2f} | {row['ssim']:.4f} | "
            f"{gain} | {_quantity(row.get('params'))} | {_quantity(row.get('macs_per_pixel'))} |"
        )
    margin = result["margin"]
    best = next(r["model"] for r in result["rows"] if r["method"] == margin["best_classical"])
    gains = "; ".join(
        f"{name} {m['psnr_db']:+.2f} dB PSNR, {m['ssim']:+.4f} SSIM"
        for name, m in margin["learned"].items()
    )
    lines += ["", f"Learned margin over the best classical method ({best}): {gains}."]
    if result["section"] == "deblur":
        methods = list(DEBLUR_METHODS)
        learned = [row["method"] for row in result["rows"] if row["kind"] == "learned"]
        lines += [
            "",
            "| image | kernel | blurred | "
            + " | ".join(f"{DEBLUR_METHODS[m][0]} ({DEBLUR_METHODS[m][1]})" for m in methods)
            + "".join(f" | {name}" for name in learned)
            + " |",
            "|---|---|---:|" + "---:|" * (len(methods) + len(learned)),
        ]
        for image in result["per_image"]:
            scores = image["scores"]
            cells = [f"{scores[m]['psnr']:.2f} ({image['parameters'][m]:.3g})" for m in methods]
            cells += [f"{scores[name]['psnr']:.2f}" for name in learned]
            lines.append(
                f"| {image['image']} | {image['kernel_label']} | "
                f"{scores['blurred']['psnr']:.2f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def super_resolution_markdown(result: dict[str, Any]) -> str:
    """The rows of a super-resolution comparison as a Markdown table, then what was skipped."""
    latency = result.get("latency")
    headers = ["scale", "method", "PSNR (dB)", "SSIM", "params", "MACs / output px", "MACs"]
    if latency:
        headers += [f"{mode} ms" for mode in latency["modes"]]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|---:|---|" + "---:|" * (len(headers) - 2),
    ]
    for row in result["rows"]:
        name = row["model"] + (" (baseline)" if row["kind"] == "baseline" and row["params"] else "")
        cells = [
            f"x{row['scale']}",
            name,
            f"{row['psnr']:.2f}",
            f"{row['ssim']:.4f}",
            _quantity(row["params"]) if row["params"] else "-",
            _quantity(row.get("macs_per_output_pixel")),
            _quantity(row.get("macs")),
        ]
        if latency:
            timings = row.get("latency_ms", {})
            cells += [
                f"{timings[mode]:.3g}" if mode in timings else "-" for mode in latency["modes"]
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if result["skipped"]:
        lines += ["", "Skipped (no weights): " + ", ".join(s["model"] for s in result["skipped"])]
    return "\n".join(lines)


def to_markdown(result: dict[str, Any]) -> str:
    """A comparison's table (and notes) in Markdown."""
    if result["section"] == "super_resolution":
        return super_resolution_markdown(result)
    return restoration_markdown(result)
