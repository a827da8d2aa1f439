"""Model cards and the README's model table, generated from the registry and the measurements.

Sources, all in the repository: the registry (contract, paper, recipe, parameters), the shipped
weights' manifests (:mod:`zoo.pretrained`: command, data, training time, metrics), and the
benchmark results under ``benchmarks/results/`` (``numerics.json``: metric per precision, file
sizes, latency, delegates; ``int8_rounding.json``: super-resolution's int8 cost per input;
``peers.json``: the classical and baseline peers). Nothing in a card
is typed by hand, so a card cannot disagree with the code or the figures.

    python tools/cards.py            # docs/models/<name>.md + .json, images, README tables
    python tools/cards.py --check    # exit 1 if any generated file is out of date

Sample images (``docs/models/images/<name>.png``) are drawn with the shipped weights by
:func:`zoo.samples.sample` (generators: latent samples; image-to-image models: test inputs,
outputs and targets), only when missing or when ``--images`` asks to redraw them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo import models, pretrained
from zoo.errors import ZooError
from zoo.files import write_atomically, write_text_atomically
from zoo.registry import ModelInfo

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "models"
IMAGE_MAX_SIDE = 512  # sample images, in pixels (the README shows them 256 wide)
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_ROUNDING = "GPTQ"  # the int8_rounding.py method zoo convert writes for these models
README = ROOT / "README.md"
TABLE_MARKERS = ("<!-- models-table:start -->", "<!-- models-table:end -->")
GALLERY_MARKERS = ("<!-- gallery:start -->", "<!-- gallery:end -->")
GALLERY_WIDTH = 256  # px, in the README
STORAGE_WORDS = {  # how zoo.pretrained stored a model's weights
    "float32": "float32",
    "float16": "float16",
    "int8": "int8 kernels with one scale per output slice, float16 biases; float at load",
}

DATA_LICENSES = {
    "digits": (
        "scikit-learn's copy of the UCI Optical Recognition of Handwritten Digits data "
        "(Alpaydin & Kaynak 1998), CC BY 4.0"
    ),
    "shapes": "procedural, drawn by deconv-zoo from a seed (Apache-2.0, like the code)",
    "shape_scenes": "procedural, drawn by deconv-zoo from a seed (Apache-2.0, like the code)",
    "photos": (
        "sample images bundled with scikit-image and scikit-learn, each under the terms its "
        "package documents (skimage.data, sklearn.datasets.load_sample_images)"
    ),
    "sr/T91": (
        "T91 (Yang et al. 2010), a research benchmark set; read from a path, never "
        "redistributed by deconv-zoo"
    ),
    "sr/Set5": (
        "Set5 (Bevilacqua et al. 2012), a research benchmark set; read from a path, never "
        "redistributed by deconv-zoo"
    ),
}


def _load_results(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def card(
    name: str,
    *,
    numerics: dict | None = None,
    peers: dict | None = None,
    accelerators: dict | None = None,
    int8_rounding: dict | None = None,
) -> dict[str, Any]:
    """Everything known about ``name``: contract, cost, weights, metrics per precision, and
    what LiteRT's real accelerators did with its files."""
    info = models.info(name)
    numerics = _load_results("numerics") if numerics is None else numerics
    peers = _load_results("peers") if peers is None else peers
    accelerators = _load_results("accelerators") if accelerators is None else accelerators
    int8_rounding = _load_results("int8_rounding") if int8_rounding is None else int8_rounding
    weights = pretrained.manifest(name) if name in pretrained.shipped() else None
    data = {info.dataset}
    if weights:
        data |= {weights["data"], weights["evaluation"]["data"]}
        if weights.get("validation_data"):
            data.add(weights["validation_data"])
    return {
        "name": name,
        "family": info.family,
        "task": info.task,
        "description": info.description,
        "paper": info.paper,
        "baseline": info.baseline,
        "inputs": [_spec(spec) for spec in info.inputs],
        "output": _spec(info.output),
        "num_params": info.num_params,
        "gpu_float32": info.gpu_float32,
        "export_size": list(info.export_size) if info.export_size else None,
        "dataset": info.dataset,
        "recipe": {
            "epochs": info.recipe.epochs,
            "batch_size": info.recipe.batch_size,
            "learning_rate": info.recipe.learning_rate,
            "loss": info.recipe.loss,
            "optimizer": info.recipe.optimizer,
            "options": dict(info.recipe.options),
        },
        "weights": weights,
        "precision": numerics.get("models", {}).get(name),
        "int8_cost": int8_rounding.get("models", {}).get(name),
        "peers": _peer_rows(name, peers),
        "accelerators": accelerators.get("models", {}).get(name),
        "data_licenses": {d: DATA_LICENSES[d] for d in sorted(data) if d in DATA_LICENSES},
        "image": f"images/{name}.png" if weights else None,
    }


def _spec(spec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "shape": ["H" if d is None else d for d in spec.shape],
        "dtype": spec.dtype,
        "value_range": list(spec.value_range),
        "levels": spec.levels,
        "description": spec.description,
    }


def _peer_rows(name: str, peers: dict) -> list[dict[str, Any]]:
    """The peers sections that name ``name`` (a model row in any comparison table)."""
    found = []
    for section, content in peers.get("sections", {}).items():
        rows = content.get("rows", []) if isinstance(content, dict) else []
        if any(row.get("model") == name for row in rows):
            found.append({"section": section, "rows": rows, "note": content.get("note", "")})
    return found


# === Markdown ===


def model_card_markdown(entry: dict[str, Any]) -> str:
    """docs/models/<name>.md: the registry's contract, the shipped weights and the measurements."""
    name = entry["name"]
    lines = [
        f"# {name}",
        "",
        f"{entry['description']} Family `{entry['family']}`, task `{entry['task']}`"
        + (" (a baseline without transposed convolution)." if entry["baseline"] else "."),
        "",
        f"Paper: {entry['paper']}.",
        "",
        "## Contract",
        "",
        "| tensor | name | shape (batch first) | dtype | range | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for role, spec in [("input", s) for s in entry["inputs"]] + [("output", entry["output"])]:
        shape = "(B, " + ", ".join(str(d) for d in spec["shape"]) + ")"
        low, high = spec["value_range"]
        levels = f" ({spec['levels']} levels)" if spec.get("levels") else ""
        lines.append(
            f"| {role} | `{spec['name']}` | {shape} | {spec['dtype']} | [{low:g}, {high:g}]"
            f"{levels} | {spec['description']} |"
        )
    lines += ["", f"Parameters: {entry['num_params']:,}."]
    if entry["export_size"]:
        height, width = entry["export_size"]
        lines.append(f"Fully convolutional; TFLite files are exported at {height}x{width}.")
    recipe = entry["recipe"]
    lines += [
        "",
        "## Data and recipe",
        "",
        f"Default data: `{entry['dataset']}`. Recipe (`zoo train {name}`): {recipe['epochs']} "
        f"epochs, batch {recipe['batch_size']}, {recipe['optimizer']} at "
        f"{recipe['learning_rate']:g}, loss `{recipe['loss']}`, options "
        f"`{json.dumps(recipe['options'])}`.",
        "",
    ]
    lines += _weights_section(entry)
    lines += _precision_section(entry)
    lines += _peers_section(entry)
    lines += _accelerators_section(entry)
    if entry["image"]:
        lines += ["## Samples", "", f"![{name} samples]({entry['image']})", ""]
    lines += ["## Data licenses", ""]
    lines += [f"- `{data}`: {text}" for data, text in entry["data_licenses"].items()]
    return "\n".join(lines) + "\n"


def _weights_section(entry: dict[str, Any]) -> list[str]:
    weights = entry["weights"]
    if not weights:
        return [
            "## Weights",
            "",
            "No shipped weights yet: train with `zoo train` and load the run with "
            f'`zoo.get("{entry["name"]}", weights=RUN)`.',
            "",
        ]
    minutes = weights["train_seconds"] / 60
    validation = weights.get("validation_data")
    lines = [
        "## Weights",
        "",
        f'`zoo.get("{entry["name"]}", weights="default")` loads the shipped '
        + (
            "file after checking its sha256."
            if len(weights["files"]) == 1
            else f"files ({len(weights['files'])}) after checking the sha256 of each."
        ),
        "",
        *(
            f"- file: `zoo/weights/{file['file']}`, {file['bytes']:,} bytes, "
            f"sha256 `{file['sha256']}`"
            for file in weights["files"]
        ),
        f"- storage: {STORAGE_WORDS[weights['storage']]}",
        f"- made by: `{weights['command']}`",
        f"- data: `{weights['data']}`"
        + (f", validated on `{validation}`" if validation else "")
        + f"; {weights['epochs']} epochs, {weights['steps']:,} steps, {minutes:.1f} min on "
        f"{weights['machine']} (TensorFlow {weights['tensorflow']}, Keras {weights['keras']})",
        "",
        f"Measured by `zoo eval {entry['name']} --weights default` on "
        f"`{weights['evaluation']['data']}` ({weights['evaluation']['samples']} samples"
        + (f"; {weights['evaluation']['protocol']}" if "protocol" in weights["evaluation"] else "")
        + "):",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    lines += [f"| {key} | {value:.4g} |" for key, value in weights["metrics"].items()]
    return [*lines, ""]


def _precision_section(entry: dict[str, Any]) -> list[str]:
    row = entry["precision"]
    if not row:
        return []
    metric = row["metric"]
    modes = [("keras", "Keras float"), ("float16", "TFLite float16"), ("dynamic", "dynamic range")]
    modes.append(("int8", "int8 (post-training)"))
    if "int8_qat" in row["metrics"]:
        modes.append(("int8_qat", f"int8 QAT ({row['qat_steps']} steps)"))
    files = row["file_bytes"]
    sizes = {"float16": files["float16"], "dynamic": files["dynamic"], "int8": files["int8"]}
    sizes |= {"keras": files["float32"], "int8_qat": files.get("int8_qat", files["int8"])}
    lines = [
        "## Quality per precision",
        "",
        f"`{metric}` on `{row['data']}` (`benchmarks/numerics.py`; the Keras row's file "
        "size is the float32 .tflite):",
        "",
        f"| precision | {metric} | file |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {label} | {row['metrics'][mode][metric]:.4g} | {sizes[mode]:,} B |"
        for mode, label in modes
    ]
    latency = row["latency_ms"]
    delegates = row["delegates"]
    lines.append("")
    cost = (entry.get("int8_cost") or {}).get("cost", {}).get(DEFAULT_ROUNDING)
    if cost:
        costs = "; ".join(f"{data} {value:+.3f} dB" for data, value in cost.items())
        lines.append(
            f"int8 cost by input (`benchmarks/int8_rounding.py`, {DEFAULT_ROUNDING} file): "
            f"{costs}. `8-bit LR`: Keras and the file given the same 8-bit image, as on a "
            "phone; the other rows give Keras the unrounded image the protocol makes."
        )
    if not (entry.get("accelerators") or {}).get("latency"):  # else its own, newer section
        lines.append(
            f"Host latency (LiteRT + XNNPACK, 1 thread, median): float32 "
            f"{latency['float32']:.3g} ms, int8 {latency['int8']:.3g} ms "
            f"({row['int8_speedup']:.2f}x)."
        )
    lines += [
        f"Delegates by their rules: float16 on the classic GPU delegate: "
        f"{delegates['float16']['gpu']}; int8 on NNAPI: "
        f"{delegates['int8']['nnapi']}, on XNNPACK: {delegates['int8']['xnnpack']}; "
        f"int8 file fully integer: {'yes' if delegates['int8']['fully_integer'] else 'no'}.",
    ]
    gpu = row.get("gpu_measured")
    if gpu:
        lines.append(f"Measured: the float16 file on {gpu['device']}: {gpu['verdict']}.")
    return [*lines, ""]


def _accelerators_section(entry: dict[str, Any]) -> list[str]:
    row = entry.get("accelerators")
    if not row:
        return []
    lines = ["## On LiteRT's accelerators", ""]
    if entry.get("gpu_float32"):
        lines += [
            "**Needs float32 arithmetic on a GPU.** GPUs compute in float16 by default, and "
            "there this model leaves Keras by more than 2% of its output range (measured on a "
            "real GPU, `benchmarks/results/gpu_replays/`); the GPU rows below ran with float32 "
            "arithmetic, and `zoo export --target android-gpu|ios-gpu` says how to ask for it.",
            "",
        ]
    latency = row.get("latency")
    if latency:
        lines += [
            "`benchmarks/accelerators.py`, one run, XNNPACK at 1 thread, median: Keras "
            f"{latency['keras']:.3g} ms; float32 file {latency['float32']['lowered']:.3g} ms "
            f"(TRANSPOSE_CONV kept: {latency['float32']['plain']:.3g} ms); float16 "
            f"{latency['float16']['lowered']:.3g} ms; int8 as `zoo export --target cpu` writes it "
            f"{latency['int8']['lowered']:.3g} ms (TRANSPOSE_CONV kept: "
            f"{latency['int8']['plain']:.3g} ms). "
            f"{row['lowered']} transposed convolution(s) lowered to CONV_2D + DEPTH_TO_SPACE.",
            "",
        ]
    sweep = row.get("gpu_sweep", [])
    if sweep:
        real = sweep[0].get("gpu_real_device")
        lines += [
            "Largest error against Keras, as a share of the output range, over the sizes "
            f"{', '.join(sorted({e['size'] for e in sweep}, key=_area))}:",
            "",
            "| file | CPU (XNNPACK) | GPU (ML Drift) |" + (" real GPU |" if real else ""),
            "|---|---:|---:|" + ("---:|" if real else ""),
        ]
        for mode, lowering in (("float32", "auto"), ("float16", "auto"), ("float16", "none")):
            entries = [e for e in sweep if e["mode"] == mode and e["lowering"] == lowering]
            if entries:
                label = f"{mode}, {'lowered' if lowering == 'auto' else 'TRANSPOSE_CONV kept'}"
                cpu, gpu = _worst(entries, "cpu"), _worst(entries, "gpu")
                lines.append(
                    f"| {label} | {cpu} | {gpu} |"
                    + (f" {_worst(entries, 'gpu_real')} |" if real else "")
                )
        lines += ["", f"GPU device: {sweep[0].get('gpu_device', '-')}."]
        lines += [f"Real GPU: {real} (`benchmarks/gpu_sweep.py`)." if real else "", ""]
    return lines


def _area(size: str) -> int:
    height, _, width = size.partition("x")
    return int(height) * int(width) if width else 0


def _worst(entries: list[dict[str, Any]], accelerator: str) -> str:
    runs = [e[accelerator] for e in entries if accelerator in e]
    if not runs:
        return "not run"
    refused = [r for r in runs if not r["accepted"]]
    if refused:
        return f"refused: {refused[0]['reason']}"
    return f"{100 * max(r['relative_error'] for r in runs):.3g}%"


def _peers_section(entry: dict[str, Any]) -> list[str]:
    lines = []
    for found in entry["peers"]:
        rows = found["rows"]
        nested = {k for row in rows for k, v in row.items() if isinstance(v, list | dict)}
        keys = list(dict.fromkeys(k for row in rows for k in row))
        keys = [k for k in keys if k not in nested and k not in ("model", "weights")]
        lines += [f"## Against peers: {found['section']}", ""]
        if found["note"]:
            lines += [found["note"], ""]
        lines += ["| model | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        lines += [
            f"| {row['model']} | " + " | ".join(_cell(row.get(k)) for k in keys) + " |"
            for row in rows
        ]
        lines.append("")
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


# === README ===


def models_table(entries: list[dict[str, Any]]) -> str:
    lines = [
        "| model | task | params | data | shipped weights: metric | int8 cost (PTQ / QAT) | card |",
        "|---|---|---:|---|---|---:|---|",
    ]
    for entry in entries:
        weights, row = entry["weights"], entry["precision"]
        measured = "not yet"
        if weights:
            key, value = next(iter(_headline(entry).items()))
            measured = f"{key} {value:.4g} ({weights['evaluation']['data']})"
        cost = ""
        if row:
            from_keras = row["metrics"]["keras"][row["metric"]]
            sign = 1.0 if row["higher_is_better"] else -1.0
            ptq, qat = (
                f"{sign * (from_keras - row['metrics'][m][row['metric']]):+.3g}"
                if m in row["metrics"]
                else "no QAT"
                for m in ("int8", "int8_qat")
            )
            cost = f"{ptq} / {qat}"
        lines.append(
            f"| `{entry['name']}` | {entry['task']} | {entry['num_params']:,} | "
            f"{weights['data'] if weights else entry['dataset']} | {measured} | {cost} | "
            f"[card](docs/models/{entry['name']}.md) |"
        )
    return "\n".join(lines)


def _headline(entry: dict[str, Any]) -> dict[str, float]:
    key, value = pretrained.headline_metric(entry["weights"], entry["task"])
    return {key: value}


def gallery(entries: list[dict[str, Any]]) -> str:
    cells = [
        f'<img src="docs/models/{e["image"]}" width="{GALLERY_WIDTH}" alt="{e["name"]}"><br>'
        f"<code>{e['name']}</code>"
        for e in entries
        if e["image"]
    ]
    if not cells:
        return "No shipped weights yet."
    rows = [cells[i : i + 3] for i in range(0, len(cells), 3)]
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>\n{body}\n</table>"


def replace_between(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise ZooError(f"README.md lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


# === Writing ===


def full_models() -> list[str]:
    return [name for name in models.list_models() if not models.info(name).tiny]


def generated_files(names: list[str] | None = None) -> dict[Path, str]:
    """Every generated text file and its content: cards (.md, .json) and the README."""
    numerics, peers = _load_results("numerics"), _load_results("peers")
    accelerators, rounding = _load_results("accelerators"), _load_results("int8_rounding")
    entries = [
        card(n, numerics=numerics, peers=peers, accelerators=accelerators, int8_rounding=rounding)
        for n in (names or full_models())
    ]
    files: dict[Path, str] = {}
    for entry in entries:
        files[DOCS / f"{entry['name']}.md"] = model_card_markdown(entry)
        files[DOCS / f"{entry['name']}.json"] = json.dumps(entry, indent=2, default=str) + "\n"
    readme = README.read_text()
    readme = replace_between(readme, TABLE_MARKERS, models_table(entries))
    files[README] = replace_between(readme, GALLERY_MARKERS, gallery(entries))
    return files


def draw_images(names: list[str], *, redraw: bool = False) -> list[Path]:
    """Sample grids of the shipped models (missing ones, or all with ``redraw``), shrunk by
    a whole factor to at most :data:`IMAGE_MAX_SIDE` pixels a side."""
    from zoo.samples import sample

    written = []
    for name in names:
        path = DOCS / "images" / f"{name}.png"
        if name in pretrained.shipped() and (redraw or not path.is_file()):
            sample(name, "default", path, count=_sample_count(models.info(name)))
            written.append(_shrink(path, IMAGE_MAX_SIDE))
    return written


def _shrink(path: Path, max_side: int) -> Path:
    """Downscale the PNG at ``path`` in place by the smallest whole factor that fits."""
    from PIL import Image

    with Image.open(path) as image:
        factor = math.ceil(max(image.size) / max_side)
        if factor == 1:
            return path
        size = (image.width // factor, image.height // factor)
        small = image.resize(size, Image.Resampling.BOX)
    write_atomically(path, lambda temporary: small.save(temporary, format="PNG"))
    return path


def _sample_count(info: ModelInfo) -> int:
    return {"generate": 32, "generate_conditional": 4}.get(info.task, 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the model cards and README tables.")
    parser.add_argument("--check", action="store_true", help="Fail if anything is out of date.")
    parser.add_argument("--images", action="store_true", help="Redraw every sample image.")
    args = parser.parse_args(argv)
    files = generated_files()
    if args.check:
        stale = [str(p.relative_to(ROOT)) for p, text in files.items() if _read(p) != text]
        if stale:
            raise SystemExit(f"out of date (run python tools/cards.py): {', '.join(stale)}")
        print(f"{len(files)} generated files are up to date")
        return
    for path, text in files.items():
        if _read(path) != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(path, text)
    drawn = draw_images(full_models(), redraw=args.images)
    print(f"wrote {len(files)} files and {len(drawn)} images")


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


if __name__ == "__main__":
    main()
