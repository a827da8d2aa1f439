"""Run .tflite files on the accelerators LiteRT offers on this machine, and measure them.

The delegate rules (:mod:`convert.delegates`) say what a delegate *should* take; this module
asks the real runtimes. For each accelerator of ``CompiledModel`` that exists here:

- ``cpu``: LiteRT's CPU accelerator (XNNPACK), always there;
- ``gpu``: LiteRT's GPU accelerator (ML Drift over WebGPU, ``libLiteRtWebGpuAccelerator.so``
  in the wheel). It needs the Vulkan loader (``libvulkan.so.1``) and a Vulkan device: a real
  GPU's driver, or SwiftShader's CPU implementation of Vulkan (Debian's ``chromium-common``
  ships it with its ICD file). On SwiftShader it computes in float32 and its timings mean
  nothing; the report says which device ran;
- ``npu``: only where a vendor dispatch library is installed in ``ai_edge_litert/vendors``.

Each run happens in a process of its own (``convert/accelerator_worker.py``), so a driver
that crashes is a one-line verdict, not a dead caller. A run reports: accepted (or the
accelerator's one-line reason), fully accelerated, median latency, and the outputs, which
:func:`measure` compares with the Keras model on inputs drawn from the model's own data.

The classic GPU delegate (GpuDelegateV2, the Interpreter API's), NNAPI, Hexagon, QNN and the
Edge TPU run nowhere here: their verdicts stay the rules' (labelled as such).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convert import flatbuffer
from convert.delegates import STRICT_TARGETS, precision
from convert.flatbuffer import SIGNATURE_KEY
from convert.parity import dequantize, quantize
from zoo.errors import ZooError

WORKER = Path(__file__).with_name("accelerator_worker.py")
ACCELERATORS = ("cpu", "gpu", "npu")
TARGET_ACCELERATOR = {
    "xnnpack": "cpu",
    "gpu": "gpu",
    "nnapi": "npu",
    "qnn": "npu",
    "hexagon": "npu",
    "edgetpu": "npu",
}
# How far an accelerator's output may be from its judge, as a share of the output's value
# range, per file precision. Float files: the largest error against Keras. Quantized files
# (REFERENCE_MODES), whose kernels may each round their own way (XNNPACK's int8 and the
# builtin kernels differ by several steps at a few pixels of a deep network): the mean
# error against LiteRT's builtin kernels (no delegate) running the same file.
TOLERANCE = {"float32": 1e-4, "float16": 0.02, "dynamic": 0.01, "int8": 0.01, "int16x8": 0.01}
# LiteRT's GPU accelerator may compute in float16 whatever the file holds (GpuOptions'
# enforce_f32 is off by default, as on phones): a float file there gets float16's tolerance.
# A model marked ``gpu_float32`` runs there with enforce_f32 and keeps its file's tolerance.
GPU_FLOAT_TOLERANCE = 0.02
REFERENCE_MODES = ("dynamic", "int8", "int16x8")

SWIFTSHADER_ICDS = (
    "/usr/lib/chromium/vk_swiftshader_icd.json",
    "/usr/lib/chromium-browser/vk_swiftshader_icd.json",
    "/usr/lib64/chromium-browser/vk_swiftshader_icd.json",
)
_GPU_DEVICES = ("/dev/dri/renderD128", "/dev/nvidia0", "/dev/kgsl-3d0", "/dev/mali0")


# === What this machine offers ===


@dataclass(frozen=True)
class Device:
    """An accelerator LiteRT can use here, or why it cannot (``reason``)."""

    accelerator: str
    runtime: str  # what runs the file: "XNNPACK", "ML Drift (WebGPU/Vulkan)", ...
    device: str  # the hardware or software device under it
    available: bool
    reason: str | None = None
    software: bool = False  # a software device: right numbers, meaningless timings
    environment: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        return f"{self.accelerator} ({self.runtime} on {self.device})"


# What a quantized file means: LiteRT's builtin kernels, no delegate.
REFERENCE_DEVICE = Device("reference", "LiteRT builtin kernels", "this CPU", True)


def devices() -> list[Device]:
    """Every accelerator of LiteRT's CompiledModel and whether it runs here."""
    return [_cpu(), gpu_device(), _npu()]


def _cpu() -> Device:
    return Device("cpu", "XNNPACK", "this CPU", True)


def gpu_device() -> Device:
    """The GPU accelerator's Vulkan device: ``VK_ICD_FILENAMES`` when set, else a real GPU's
    driver where a GPU device node and a driver's ICD file exist, else SwiftShader where it
    is installed."""
    runtime = "ML Drift (WebGPU/Vulkan)"
    if ctypes.util.find_library("vulkan") is None:
        return Device(
            "gpu",
            runtime,
            "none",
            False,
            "no Vulkan loader (libvulkan.so.1): install Debian's libvulkan1 and a GPU's Vulkan "
            "driver, or chromium-common for SwiftShader's software Vulkan",
        )
    chosen = os.environ.get("VK_ICD_FILENAMES")
    if chosen:
        software = "swiftshader" in chosen.lower()
        name = "SwiftShader (software)" if software else f"Vulkan driver {Path(chosen).name}"
        return Device("gpu", runtime, name, True, software=software)
    drivers = [
        icd
        for folder in ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d")
        for icd in glob.glob(f"{folder}/*.json")
        if "lvp" not in Path(icd).name  # Mesa's lavapipe: too old for WebGPU ("No adapters")
    ]
    if drivers and any(os.path.exists(node) for node in _GPU_DEVICES):
        return Device("gpu", runtime, "the system's Vulkan driver", True)
    for icd in SWIFTSHADER_ICDS:
        if os.path.exists(icd):
            return Device(
                "gpu",
                runtime,
                "SwiftShader (software)",
                True,
                software=True,
                environment=(("VK_ICD_FILENAMES", icd),),
            )
    return Device(
        "gpu",
        runtime,
        "none",
        False,
        "no Vulkan device: no GPU here and no SwiftShader ICD (Debian's chromium-common)",
    )


def _npu() -> Device:
    import ai_edge_litert

    vendors = Path(ai_edge_litert.__file__).parent / "vendors"
    found = sorted(glob.glob(str(vendors / "*" / "dispatch" / "*.so")))
    if not found:
        return Device("npu", "vendor dispatch", "none", False, "no NPU dispatch library installed")
    vendor = Path(found[0]).parent.parent.name
    try:
        ctypes.CDLL(found[0])
    except OSError as error:  # the vendor's own runtime libraries are missing
        reason = str(error).strip() or "cannot load"
        return Device("npu", "vendor dispatch", vendor, False, f"{vendor} dispatch: {reason}")
    return Device("npu", "vendor dispatch", vendor, True)


# === Running a file ===


@dataclass
class AcceleratorRun:
    """One file on one accelerator: the verdict, timings, and (once measured) parity."""

    accelerator: str
    device: str
    accepted: bool
    reason: str | None = None
    available: bool = True  # False: the accelerator does not exist here (``reason`` says why)
    fully_accelerated: bool | None = None
    median_ms: float | None = None
    software: bool = False
    max_abs_error: float | None = None  # against Keras
    mean_abs_error: float | None = None
    relative_error: float | None = None  # max |error| against Keras / the output's range
    metric: str | None = None
    metric_value: float | None = None
    judge: str | None = None  # what the outputs must match: "Keras" or the reference kernels
    judged_error: float | None = None  # |error| against the judge / the output's range
    statistic: str = "max"  # of the judged error: "max", or "mean" for quantized files
    tolerance: float | None = None

    @property
    def agrees(self) -> bool | None:
        """Whether the outputs match the judge within the tolerance (None: not compared)."""
        if self.judged_error is None or self.tolerance is None:
            return None
        return self.judged_error <= self.tolerance

    @property
    def ok(self) -> bool:
        return self.accepted and bool(self.fully_accelerated) and self.agrees is not False

    def verdict(self) -> str:
        if not self.available:
            return f"not run: {self.reason}"
        if not self.accepted:
            return f"refused: {self.reason}"
        parts = ["all ops" if self.fully_accelerated else "not fully accelerated"]
        if self.judged_error is not None:
            state = "right" if self.agrees else "WRONG"
            parts.append(
                f"{state}: {self.statistic} |err| vs {self.judge} "
                f"{100 * self.judged_error:.3g}% of range"
                f" (tolerance {100 * self.tolerance:.3g}%)"
            )
        if self.relative_error is not None and self.judge != "Keras":
            parts.append(f"max |err| vs Keras {100 * self.relative_error:.3g}%")
        if self.metric is not None and self.metric_value is not None:
            parts.append(f"{self.metric} {self.metric_value:.4g}")
        if self.median_ms is not None:
            timing = f"{self.median_ms:.2f} ms"
            parts.append(f"{timing} (software device: not a timing)" if self.software else timing)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["agrees"] = self.agrees
        data["verdict"] = self.verdict()
        return data


def run_file(
    data: bytes,
    samples: list[dict[str, np.ndarray]],
    device: Device,
    *,
    runs: int = 5,
    warmup: int = 1,
    threads: int = 1,
    timeout: float = 600,
    signature: str = SIGNATURE_KEY,
    gpu_float32: bool = False,
) -> tuple[AcceleratorRun, list[dict[str, np.ndarray]]]:
    """Run ``data`` on ``device`` for each of ``samples`` (the signature's inputs by name, in
    the file's dtypes), timing the first; the verdict and each sample's raw outputs by name
    (none when refused). ``gpu_float32``: the GPU computes in float32, not float16."""
    gpu_float32 = gpu_float32 and device.accelerator == "gpu"
    label = device.label() + (", float32 arithmetic" if gpu_float32 else "")
    base = AcceleratorRun(device.accelerator, label, False, software=device.software)
    if not device.available:
        base.available, base.reason = False, device.reason
        return base, []
    with tempfile.TemporaryDirectory(prefix="zoo-accelerator-") as folder:
        path, feed, out = (Path(folder) / name for name in ("model.tflite", "in.npz", "out.npz"))
        path.write_bytes(data)
        np.savez(feed, **{f"{i}:{k}": v for i, s in enumerate(samples) for k, v in s.items()})
        request = {
            "path": str(path),
            "accelerator": device.accelerator,
            "inputs": str(feed),
            "samples": len(samples),
            "outputs": str(out),
            "runs": runs,
            "warmup": warmup,
            "threads": threads,
            "signature": signature,
            "gpu_float32": gpu_float32,
        }
        env = {**os.environ, **dict(device.environment), "XDG_RUNTIME_DIR": folder}
        try:
            completed = subprocess.run(
                [sys.executable, "-I", str(WORKER), json.dumps(request)],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            base.reason = f"no answer within {timeout:.0f} s"
            return base, []
        answer = _answer(completed)
        if not answer.get("accepted"):
            base.reason = answer.get("reason") or "the accelerator failed"
            return base, []
        outputs: list[dict[str, np.ndarray]] = [{} for _ in samples]
        with np.load(out) as loaded:
            for key in loaded.files:
                sample, name = key.split(":", 1)
                outputs[int(sample)][name] = loaded[key]
    base.accepted = True
    base.fully_accelerated = answer["fully_accelerated"]
    base.median_ms = float(np.median(answer["times_ms"])) if answer["times_ms"] else None
    return base, outputs


def _answer(completed: subprocess.CompletedProcess) -> dict:
    lines = completed.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if completed.returncode != 0 and not answer:
        signal = -completed.returncode if completed.returncode < 0 else None
        crashed = f"crashed (signal {signal})" if signal else f"exit {completed.returncode}"
        answer = {"accepted": False, "reason": f"the runtime {crashed}"}
    if not answer.get("accepted"):
        logged = log_reason(completed.stderr + "\n" + completed.stdout)
        if logged:
            answer["reason"] = logged
    return answer


# LiteRT's log lines that name no cause: the status trace of the C++ API and unrelated plugins.
_GENERIC = ("litert_compiled_model.h", "compiled_model.cc", "Registration failed", "plugin", "npu_")


def log_reason(log: str) -> str | None:
    """The line of a LiteRT log that says why a file was refused, or None.

    The accelerator names the op after "not supported by GPU delegate:"; otherwise the
    first ERROR line that is not a generic status trace.
    """
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if "not supported by" in line:
            return lines[i + 1][:300]
    for marker in ("ERROR:", "E0000", "ERROR"):
        for line in lines:
            if (line.startswith(marker) or marker in line) and not any(g in line for g in _GENERIC):
                text = line.split("] ", 1)[1] if line.startswith(("ERROR: [", "E0000")) else line
                text = text.removeprefix("ERROR: ").strip()
                if "No adapters found" in text:
                    text += " (no usable Vulkan device)"
                return text[:300]
    return None


# === Measuring a file against its Keras model ===


def weights_digest(model) -> str:
    """sha256 over the model's weights (float32 bytes, in order): identifies the exact weights."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array, np.float32).tobytes())
    return digest.hexdigest()


def measure_file(data: bytes, *, source: str = "the buffer", runs: int = 5) -> RuntimeReport:
    """:func:`measure` for a file alone: a zoo file whose metadata names a registered model
    and weights that still hash the same is compared with that Keras model on its data;
    any other file gets acceptance and timing only (``RuntimeReport.note`` says why)."""
    from convert.representative import representative_inputs  # loads the data pipeline
    from zoo import factory, models  # Keras: only for a zoo file

    parsed = flatbuffer.read(data)
    metadata = parsed.zoo_metadata or {}
    name, weights = metadata.get("name"), metadata.get("weights")
    note = "no zoo metadata: acceptance and timing only"
    if name in models.list_models() and weights and not weights.startswith("initial"):
        try:
            model = factory.get(name, weights=weights)
        except ZooError as error:
            note = f"its weights {weights!r} do not load here ({error}): not compared"
        else:
            if weights_digest(model) == metadata.get("weights_sha256"):
                info = models.info(name)
                height, width = parsed.input_tensors[0].shape[1:3]
                size = (height, width) if None in info.inputs[0].shape else None
                samples = representative_inputs(info, size=size, count=4, seed=1)
                return measure(
                    data, model=model, info=info, samples=samples, source=source, runs=runs
                )
            note = f"its weights {weights!r} have changed since conversion: not compared"
    elif name:
        note = f"made from {name} with {weights or 'unknown'} weights: not compared with Keras"
    report = measure(data, source=source, runs=runs)
    report.note = "; ".join(filter(None, (report.note, note)))
    return report


@dataclass
class RuntimeReport:
    """One file on every accelerator here, compared with its Keras model where given."""

    source: str
    mode: str
    runs: list[AcceleratorRun]
    note: str | None = None  # e.g. why the outputs were not compared with a Keras model

    def failures(self, targets: Iterable[str] | None = None) -> list[AcceleratorRun]:
        """Runs that refused, fell back, or disagree with Keras (unavailable ones aside).

        ``targets`` (delegate names, as ``zoo check --target`` takes them; default: those
        the file's precision is for, as for the rules) keeps the runs of the accelerators
        that stand for them: ``xnnpack`` the CPU, ``gpu`` the GPU, NPU delegates (``nnapi``,
        ``qnn``, ``hexagon``, ``edgetpu``) the NPU. An int8 file is not judged on the GPU.
        """
        names = list(targets) if targets else STRICT_TARGETS[self.mode]
        covered = {TARGET_ACCELERATOR[name] for name in names}
        return [r for r in self.runs if r.available and not r.ok and r.accelerator in covered]

    def require(self, targets: Iterable[str] | None = None) -> None:
        """A one-line :class:`ZooError` when an accelerator that ran refused or disagrees."""
        failed = self.failures(targets)
        if failed:
            parts = "; ".join(f"{run.accelerator}: {run.verdict()}" for run in failed)
            raise ZooError(f"{self.source} on the real accelerators: {parts}")

    def summary(self) -> str:
        lines = [f"measured on this machine's LiteRT accelerators ({self.mode} file):"]
        lines += [f"  {run.device}: {run.verdict()}" for run in self.runs]
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "mode": self.mode, "runs": [r.to_dict() for r in self.runs]}

    def compact(self) -> dict[str, Any]:
        """Per accelerator that ran: device, verdict and error (the file metadata's entry)."""
        return {
            run.accelerator: {
                "device": run.device,
                "accepted": run.accepted,
                "fully_accelerated": run.fully_accelerated,
                "relative_error": run.relative_error,
                "judge": run.judge,
                "judged_error": run.judged_error,
                "agrees": run.agrees,
                "verdict": run.verdict(),
            }
            for run in self.runs
            if run.available
        }


def measure(
    data: bytes,
    *,
    model=None,
    info=None,
    samples: list[list[np.ndarray]] | None = None,
    accelerators: tuple[str, ...] = ACCELERATORS,
    runs: int = 5,
    source: str = "the buffer",
) -> RuntimeReport:
    """Run ``data`` on each accelerator here (each in its own process).

    With ``model`` and ``info`` (its ModelInfo) every run's outputs are compared with
    ``model``'s on ``samples`` (lists of float inputs, batch 1, in ``info.inputs`` order;
    default: uniform draws from the file's input ranges); without them only acceptance,
    full acceleration and timing are reported. A file that does not parse is a ZooError.
    """
    parsed = flatbuffer.read(data)
    signature = _signature(parsed)
    output = parsed.tensor(next(iter(signature.outputs.values())))
    names = list(signature.inputs)
    if info is not None:
        names = [spec.name for spec in info.inputs]
        if sorted(names) != sorted(signature.inputs):
            raise ZooError(f"{source} takes inputs {sorted(signature.inputs)}, not {names}")
    if samples is None:
        samples = [_random_sample(info, [parsed.tensor(signature.inputs[n]) for n in names])]
    feeds = [
        {
            name: _quantize_for(array, parsed.tensor(signature.inputs[name]))
            for name, array in zip(names, sample, strict=True)
        }
        for sample in samples
    ]
    expected = keras_outputs(model, samples) if model is not None and info is not None else None
    mode = precision(parsed)
    output_name = next(iter(signature.outputs))

    gpu_float32 = info is not None and info.gpu_float32

    def outputs_of(device: Device) -> tuple[AcceleratorRun, np.ndarray | None]:
        run, raw = run_file(
            data, feeds, device, runs=runs, signature=signature.key, gpu_float32=gpu_float32
        )
        if not run.accepted:
            return run, None
        return run, np.concatenate(
            [dequantize(r[output_name], output.dtype, output.quantization) for r in raw]
        )

    judge, note = ("Keras", expected), None
    if mode in REFERENCE_MODES:
        checked, reference = outputs_of(REFERENCE_DEVICE)
        judge = ("LiteRT builtin kernels", reference)
        if reference is None:  # the accelerators below say why in their own words
            note = f"LiteRT's builtin kernels refuse the file: {checked.reason}"
    results = []
    for device in devices():
        if device.accelerator not in accelerators:
            continue
        run, actual = outputs_of(device)
        if actual is not None:
            spread = next(v for v in (expected, judge[1], actual) if v is not None)
            width = output_width(info, spread)
            if expected is not None:
                _compare(run, expected, actual, info, width)
            if judge[1] is not None:
                run.judge = judge[0]
                run.tolerance = tolerance(mode, device.accelerator, gpu_float32=gpu_float32)
                run.statistic = "mean" if mode in REFERENCE_MODES else "max"
                error = np.abs(judge[1] - actual)
                run.judged_error = float(error.mean() if run.statistic == "mean" else error.max())
                run.judged_error /= width
        results.append(run)
    return RuntimeReport(source=source, mode=mode, runs=results, note=note)


def keras_outputs(model, samples: list[list[np.ndarray]]) -> np.ndarray:
    """``model``'s outputs on ``samples`` (lists of batch-1 inputs), concatenated."""
    return np.concatenate(
        [np.asarray(model(s[0] if len(s) == 1 else list(s), training=False)) for s in samples]
    )


def tolerance(mode: str, accelerator: str, *, gpu_float32: bool = False) -> float:
    """How far a ``mode`` file's outputs on ``accelerator`` may be from their judge, as a
    share of the output range: the GPU gets float16's unless it computes in float32."""
    allowed = TOLERANCE.get(mode, 0.01)
    if accelerator == "gpu" and not gpu_float32 and mode not in REFERENCE_MODES:
        return max(allowed, GPU_FLOAT_TOLERANCE)
    return allowed


def _signature(parsed) -> flatbuffer.Signature:
    """``serving_default`` (every zoo file's), else the first signature, else one made of the
    graph's inputs and outputs by tensor name (as LiteRT names them for such a file)."""
    for signature in parsed.signatures:
        if signature.key == SIGNATURE_KEY:
            return signature
    if parsed.signatures:
        return parsed.signatures[0]
    return flatbuffer.Signature(
        key="",
        inputs={t.name: t.index for t in parsed.input_tensors},
        outputs={t.name: t.index for t in parsed.output_tensors},
    )


def _random_sample(info, tensors) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    sample = []
    for i, tensor in enumerate(tensors):
        low, high = info.inputs[i].value_range if info is not None else (0.0, 1.0)
        if not (math.isfinite(low) and math.isfinite(high)):
            low, high = -1.0, 1.0
        sample.append(rng.uniform(low, high, size=tensor.shape).astype(np.float32))
    return sample


def _quantize_for(array: np.ndarray, tensor: flatbuffer.Tensor) -> np.ndarray:
    """A float array as ``tensor`` of the file takes it."""
    return quantize(array, tensor.dtype, tensor.quantization)


def output_width(info, values: np.ndarray) -> float:
    """The output's value range: declared where bounded, else the values' own spread."""
    if info is not None and info.output.bounded:
        low, high = info.output.value_range
        if math.isfinite(high - low):
            return max(high - low, 1e-12)
    return max(float(values.max() - values.min()), 1e-12)


def _classifies_pixels(info) -> bool:
    """Whether ``info``'s output is per-pixel class probabilities (judged by label agreement)."""
    from zoo.tasks import classifies_pixels  # numpy-only replays never reach here

    return classifies_pixels(info.task)


def _compare(run: AcceleratorRun, expected: np.ndarray, actual: np.ndarray, info, width) -> None:
    """Errors against Keras, and the task's own view of them."""
    error = np.abs(expected.astype(np.float32) - actual.astype(np.float32))
    run.max_abs_error = float(error.max())
    run.mean_abs_error = float(error.mean())
    run.relative_error = run.max_abs_error / width
    if info is not None and expected.ndim == 4 and _classifies_pixels(info):
        run.metric = "labels agree %"
        run.metric_value = 100 * float(np.mean(expected.argmax(-1) == actual.argmax(-1)))
    elif expected.ndim == 4:
        mse = float(np.mean(np.square(expected - actual)))
        run.metric = "PSNR vs Keras dB"
        run.metric_value = math.inf if mse == 0 else 10 * math.log10(width**2 / mse)
