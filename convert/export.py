"""The phone bundle: ``zoo export MODEL --target ... --out DIR``.

One folder per export, everything a mobile engineer needs to drop the model into an app and
verify it on the device:

- ``<model>_<mode>.tflite``: the file that suits the target (:data:`TARGET_MODES`): float16
  for GPU delegates, full int8 for NPUs and the Edge TPU, and for ``cpu`` whichever of
  float32, dynamic and int8 ran fastest on this host with XNNPACK (measured in the run);
- ``model_card.json`` and ``model_card.md``: metadata, sizes, parity, the delegate report and
  host latency;
- ``golden_input_<name>.npy`` per input and ``golden_output.npy``: one real sample of the
  model's data exactly as the file takes it (int8 files: quantized) and the output this
  host's LiteRT interpreter gave for it, to compare against on the device;
- ``RUN_ON_DEVICE.md``: how to run and benchmark it with LiteRT on Android and iOS.

The bundle is assembled under a temporary name beside ``DIR`` and moved into place, so an
interrupted export leaves nothing half-written. ``--force`` replaces an earlier bundle's files
in ``DIR`` and leaves every other file there as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from convert import flatbuffer
from convert.parity import Runner
from convert.representative import representative_inputs
from convert.tflite import Conversion, convert_model
from zoo.errors import ZooError

TARGET_MODES = {
    "android-gpu": "float16",
    "ios-gpu": "float16",
    "android-npu": "int8",
    "edgetpu": "int8",
    "cpu": None,  # measured: the fastest of CPU_CANDIDATES
}
TARGETS = tuple(TARGET_MODES)
CPU_CANDIDATES = ("float32", "dynamic", "int8")
# The Edge TPU compiler maps no DEPTH_TO_SPACE; every other target runs the lowered form
# (CONV_2D + DEPTH_TO_SPACE) faster, and LiteRT's GPU accelerator runs it right.
TARGET_LOWERING = {**{target: "auto" for target in TARGET_MODES}, "edgetpu": "none", "cpu": "cpu"}
LOWERING_TEXT = {
    "auto": "transposed convolutions lowered to CONV_2D + DEPTH_TO_SPACE (exact; faster on "
    "XNNPACK, right on LiteRT's GPU accelerator); in int8, PReLUs as ReLU convolutions",
    "cpu": "transposed convolutions lowered to CONV_2D + DEPTH_TO_SPACE, a float file's phases "
    "as convolutions of their own where that saves work; in int8, PReLUs as ReLU convolutions",
    "none": "TRANSPOSE_CONV kept and nearest upsampling as RESIZE_NEAREST_NEIGHBOR (the Edge "
    "TPU compiler has no DEPTH_TO_SPACE)",
}
DELEGATE_FOR_TARGET = {
    "android-gpu": "gpu",
    "ios-gpu": "gpu",
    "android-npu": "nnapi",
    "edgetpu": "edgetpu",
    "cpu": "xnnpack",
}
# What the device's output may differ from golden_output.npy by: GPU delegates compute in
# float16; NPUs may round int8 differently by one step.
DEVICE_TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "dynamic": 1e-3, "int8": 1}


def export(
    name: str,
    *,
    target: str,
    out: str | Path,
    weights: str | None = None,
    runs: int = 20,
    threads: int = 1,
    force: bool = False,
) -> Path:
    """Write the bundle for ``name`` on ``target`` to folder ``out``; returns ``out``."""
    from convert.bench import bench_file
    from convert.delegates import check
    from zoo import factory, models

    if target not in TARGET_MODES:
        raise ZooError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise ZooError(f"folder {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; pass a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise ZooError(f"{out} exists and is not empty; pass --force to replace its bundle")
    info = models.info(name)
    model = factory.get(name, weights=weights)

    staging = Path(tempfile.mkdtemp(prefix=".partial-bundle-", dir=out.parent))
    try:
        candidates = {}
        modes = CPU_CANDIDATES if target == "cpu" else (TARGET_MODES[target],)
        for mode in modes:
            candidates[mode] = convert_model(
                model,
                mode=mode,
                info=info,
                weights=weights,
                lowering=TARGET_LOWERING[target],
                rounding="best",
            )
        latencies = {}
        for mode, conversion in candidates.items():
            path = staging / f"{name}_{mode}.tflite"
            path.write_bytes(conversion.flatbuffer)
            latencies[mode] = bench_file(path, threads=(threads,), runs=runs)[0]
        mode = min(latencies, key=lambda m: latencies[m].median_ms)
        chosen = candidates[mode]
        file_name = f"{name}_{mode}.tflite"
        for other in candidates:
            if other != mode:
                (staging / f"{name}_{other}.tflite").unlink()
        chosen.save(staging / file_name)  # the .tflite and its metadata JSON

        report = check(chosen.flatbuffer, label=file_name)
        golden = _golden(info, chosen, staging)
        card = _card(
            info, target, file_name, chosen, report, latencies, mode, golden, weights, threads
        )
        _write(staging / "model_card.json", json.dumps(card, indent=2, default=_plain) + "\n")
        _write(staging / "model_card.md", bundle_card_markdown(card))
        _write(staging / "RUN_ON_DEVICE.md", run_on_device(card))
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _write(path: Path, text: str) -> None:
    path.write_text(text)


BUNDLE_FILES = ("*.tflite", "golden_*.npy", "model_card.json", "model_card.md", "RUN_ON_DEVICE.md")


def bundle_files(folder: Path) -> list[Path]:
    """The files of a bundle in ``folder``: its .tflite files and their metadata JSON, the
    golden tensors, the model card and RUN_ON_DEVICE.md."""
    found = {path for pattern in BUNDLE_FILES for path in folder.glob(pattern)}
    found |= {path.with_suffix(".json") for path in folder.glob("*.tflite")}
    return sorted(path for path in found if path.is_file())


def _replace(staging: Path, out: Path) -> None:
    """Move the finished bundle into ``out``: renamed whole into a new folder, else file by
    file over an earlier bundle's files (other files in ``out`` stay)."""
    if not out.exists():
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp's folder is private; a bundle is not
        os.replace(staging, out)
        return
    for path in bundle_files(out):
        path.unlink()
    for path in bundle_files(staging):
        os.replace(path, out / path.name)


def _golden(info, conversion: Conversion, folder: Path) -> dict[str, Any]:
    """A real sample as the file takes it, and the host interpreter's output for it."""
    sample = representative_inputs(info, count=1, seed=2)[0]
    runner = Runner(conversion.flatbuffer, [spec.name for spec in info.inputs])
    raw_inputs = runner.file_inputs(sample)
    raw_output = runner.run_file(raw_inputs)
    files = {}
    for name, array in raw_inputs.items():
        files[name] = f"golden_input_{name}.npy"
        np.save(folder / files[name], array)
    np.save(folder / "golden_output.npy", raw_output)
    return {
        "inputs": files,
        "output": "golden_output.npy",
        "output_dtype": str(raw_output.dtype),
        "tolerance": DEVICE_TOLERANCE[conversion.mode],
    }


def _card(
    info, target, file_name, chosen, report, latencies, mode, golden, weights, threads
) -> dict[str, Any]:
    delegate = DELEGATE_FOR_TARGET[target]
    return {
        "model": info.name,
        "target": target,
        "file": file_name,
        "mode": mode,
        "size_bytes": chosen.size,
        "metadata": chosen.metadata,
        "paper": info.paper,
        "task": info.task,
        "num_params": info.num_params,
        "weights": weights or "initial (untrained)",
        "parity": asdict(chosen.parity),
        "lowering": {
            "mode": TARGET_LOWERING[target],
            "lowered": chosen.metadata.get("lowered", 0),
            "why": LOWERING_TEXT[TARGET_LOWERING[target]],
        },
        "delegate": {
            "target": delegate,
            "verdict": report.target(delegate).verdict(),
            "report": report.to_dict(),
        },
        "host_latency": {
            m: {
                "median_ms": lat.median_ms,
                "p90_ms": lat.p90_ms,
                "threads": threads,
                "size_bytes": lat.size_bytes,
                "peak_mib": lat.peak_mib,
            }
            for m, lat in latencies.items()
        },
        "golden": golden,
    }


# === Text ===


def rounding_lines(meta: dict[str, Any]) -> list[str]:
    """How an integer file's weights were rounded (none for a float file)."""
    errors = meta.get("rounding_errors")
    choice = ""
    if errors:
        choice = (
            f" (output MSE vs Keras on the calibration samples: GPTQ {errors['gptq']:.3g}, "
            f"nearest {errors['nearest']:.3g})"
        )
    if not meta.get("rounded_layers"):
        return [f"- Weights: the converter's nearest rounding{choice}"] if errors else []
    line = f"- Weights: {meta['rounded_layers']} layer(s) rounded by GPTQ{choice}"
    if meta.get("balanced_pairs"):
        line += f", after balancing the activation ranges of {meta['balanced_pairs']} pair(s)"
    if meta.get("pixel_output"):
        line += "; the output on the 8-bit image grid (scale 1/255)"
    if meta.get("pixel_inputs"):
        line += f"; input {', '.join(meta['pixel_inputs'])} on its 8-bit levels (convert.ranges)"
    if meta.get("narrowed_ranges"):
        line += f"; {len(meta['narrowed_ranges'])} activation range(s) narrowed (convert.ranges)"
    if meta.get("merged_skips"):
        line += f"; {meta['merged_skips']} skip sum(s) rounded once (convert.skips)"
    return [line]


def bundle_card_markdown(card: dict[str, Any]) -> str:
    """The phone bundle's model_card.md: the exported file, its parity, delegates and latency."""
    meta = card["metadata"]
    parity = card["parity"]
    lines = [
        f"# {card['model']} for {card['target']}",
        "",
        f"- File: `{card['file']}` ({card['mode']}, {card['size_bytes'] / 1024:,.1f} KB)",
        f"- Task: {card['task']}; paper: {card['paper']}",
        f"- Parameters: {card['num_params']:,}; weights: {card['weights']}",
        f"- Weights sha256: `{meta['weights_sha256']}`",
        f"- Lowering: {card['lowering']['why']}; {card['lowering']['lowered']} layer(s) lowered",
        *rounding_lines(meta),
        "",
        "## Inputs and output",
        "",
        "| tensor | shape | dtype | value range | quantization (scale, zero point) |",
        "|---|---|---|---|---|",
    ]
    for kind, entries in (("in", meta["inputs"]), ("out", meta["outputs"])):
        for entry in entries:
            quant = entry.get("quantization")
            quant_text = f"{quant['scale']:.6g}, {quant['zero_point']}" if quant else "-"
            lines.append(
                f"| {kind}: {entry['name']} | {'x'.join(map(str, entry['shape']))} | "
                f"{entry['dtype']} | {entry['value_range'][0]} to {entry['value_range'][1]} | "
                f"{quant_text} |"
            )
    psnr = f", PSNR {parity['psnr']:.1f} dB" if parity.get("psnr") is not None else ""
    lines += [
        "",
        "## Parity with the Keras model",
        "",
        f"On {parity['samples']} samples of the model's data: max |error| "
        f"{parity['max_abs_error']:.3g}, mean |error| {parity['mean_abs_error']:.3g}{psnr}.",
        "",
        "## Delegate",
        "",
        f"{card['delegate']['target']}: {card['delegate']['verdict']}. The full report for "
        "every target is in `model_card.json` (`delegate.report`).",
        "",
        "## Host latency (LiteRT + XNNPACK on this machine's CPU)",
        "",
        "| mode | threads | median (ms) | p90 (ms) | size (KB) | peak memory (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, lat in card["host_latency"].items():
        lines.append(
            f"| {mode} | {lat['threads']} | {lat['median_ms']:.3f} | {lat['p90_ms']:.3f} | "
            f"{lat['size_bytes'] / 1024:,.1f} | {lat['peak_mib']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def run_on_device(card: dict[str, Any]) -> str:
    """How to run, verify and benchmark the bundle on a phone."""
    file_name, target = card["file"], card["target"]
    golden = card["golden"]
    inputs = ", ".join(f"`{f}`" for f in golden["inputs"].values())
    lines = [
        f"# Running {file_name} on a device",
        "",
        f"Target: **{target}**. Inputs: "
        + ", ".join(
            f"`{e['name']}` {'x'.join(map(str, e['shape']))} {e['dtype']}"
            for e in card["metadata"]["inputs"]
        )
        + f"; output `{card['metadata']['outputs'][0]['name']}`.",
        "",
        "## Verify",
        "",
        f"Feed {inputs} (NumPy .npy, the exact input tensors) and compare the output with "
        f"`{golden['output']}` ({golden['output_dtype']}): they should agree within "
        f"{golden['tolerance']} (absolute, in the output tensor's own units).",
        "",
    ]
    lines += _TARGET_TEXT[target].format(file=file_name).splitlines()
    if target in GPU_TARGETS and card["metadata"].get("gpu_float32"):
        lines += ["", GPU_FLOAT32_TEXT]
    lines += ["", _BENCHMARK_TEXT.format(file=file_name, flags=_BENCHMARK_FLAGS[target])]
    return "\n".join(lines) + "\n"


_ANDROID = """## Android (LiteRT CompiledModel, Kotlin)

```kotlin
// build.gradle: implementation("com.google.ai.edge.litert:litert:2.3.0")
//               implementation("com.google.ai.edge.litert:litert-gpu:2.3.0")  // GPU only
val model = CompiledModel.create(
    context.assets, "{file}", CompiledModel.Options(Accelerator.{accelerator}), env)
val inputs = model.createInputBuffers()
val outputs = model.createOutputBuffers()
inputs[0].writeFloat(pixels)   // int8 files: write the quantized bytes instead
model.run(inputs, outputs)
val result = outputs[0].readFloat()
```
"""

GPU_TARGETS = ("android-gpu", "ios-gpu")
GPU_FLOAT32_TEXT = (
    "**This model needs float32 arithmetic on the GPU.** GPU delegates compute in float16 "
    "by default, and there its outputs leave Keras by more than 2% of their range (measured on "
    "a real GPU: `benchmarks/results/accelerators.md`). Turn precision loss off: LiteRT's "
    "GPU options `enforce_f32` (CompiledModel), `isPrecisionLossAllowed = false` "
    "(TensorFlowLiteSwift's Metal delegate), or the classic GPU delegate's "
    "`TFLITE_GPU_INFERENCE_PRIORITY_MAX_PRECISION`."
)

_TARGET_TEXT = {
    "android-gpu": _ANDROID.replace("{accelerator}", "GPU"),
    "android-npu": _ANDROID.replace("{accelerator}", "NPU")
    + "\nOn Qualcomm phones the QNN delegate (HTP backend) runs int8 files; older Android "
    "versions can use NNAPI.\n",
    "cpu": _ANDROID.replace("{accelerator}", "CPU"),
    "ios-gpu": """## iOS (TensorFlowLiteSwift with the Metal delegate)

```swift
// Podfile: pod 'TensorFlowLiteSwift/Metal'
let interpreter = try Interpreter(modelPath: path, delegates: [MetalDelegate()])
try interpreter.allocateTensors()
try interpreter.copy(inputData, toInputAt: 0)
try interpreter.invoke()
let output = try interpreter.output(at: 0).data
```
""",
    "edgetpu": """## Edge TPU

Compile the int8 file for the Edge TPU on a Linux host, then run it with the Edge TPU
runtime (libedgetpu):

```sh
edgetpu_compiler {file}    # writes the compiled *_edgetpu.tflite and a log of the mapped ops
```

```python
from ai_edge_litert.interpreter import Interpreter, load_delegate
interpreter = Interpreter(model_path="model_edgetpu.tflite",
                          experimental_delegates=[load_delegate("libedgetpu.so.1")])
```
""",
}

_BENCHMARK_FLAGS = {
    "android-gpu": "--use_gpu=true",
    "ios-gpu": "--use_gpu=true",
    "android-npu": "--use_nnapi=true",
    "edgetpu": "",
    "cpu": "--use_xnnpack=true --num_threads=4",
}

_BENCHMARK_TEXT = """## Benchmark on the phone

LiteRT's `benchmark_model` tool (prebuilt for android_aarch64 in the LiteRT releases):

```sh
adb push {file} /data/local/tmp/
adb push benchmark_model /data/local/tmp/ && adb shell chmod +x /data/local/tmp/benchmark_model
adb shell /data/local/tmp/benchmark_model --graph=/data/local/tmp/{file} {flags} \\
    --num_runs=50 --warmup_runs=5
```

It prints the average latency and the number of nodes each delegate took; every node on the
delegate means the file runs whole there (see the delegate verdict in `model_card.md`). On iOS,
the LiteRT iOS benchmark app takes the same file and flags."""


def load_card(folder: str | Path) -> dict[str, Any]:
    """The model card of an exported folder."""
    return json.loads((Path(folder) / "model_card.json").read_text())


def verify(folder: str | Path) -> float:
    """Run the bundle's golden input through its file here; the max abs difference."""
    folder = Path(folder)
    card = load_card(folder)
    data = flatbuffer.load_bytes(folder / card["file"])
    names = list(card["golden"]["inputs"])
    runner = Runner(data, names)
    feed = {name: np.load(folder / card["golden"]["inputs"][name]) for name in names}
    output = runner.run_file(feed)
    expected = np.load(folder / card["golden"]["output"])
    return float(np.abs(output.astype(np.float64) - expected.astype(np.float64)).max())
