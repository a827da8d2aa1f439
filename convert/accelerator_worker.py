"""Run one .tflite file on one LiteRT accelerator, in a process of its own (convert.runtime).

Run as a script, never imported: ``python -I accelerator_worker.py '<json request>'``. It
imports only the standard library, numpy and ``ai_edge_litert``, so an accelerator that
crashes (a segmentation fault in a driver) takes down this process, not the caller. The
request holds ``path`` (the file), ``accelerator`` ("cpu", "gpu", "npu", or "reference":
LiteRT's builtin kernels through the Interpreter, no delegate), ``inputs`` (an
.npz of the signature's inputs in the file's own dtypes, keyed ``"<sample>:<input name>"``),
``samples`` (how many), ``outputs`` (the .npz to write, keyed ``"<sample>:<output name>"``),
``runs`` and ``warmup`` (timed on sample 0), ``threads``, ``signature`` (its key; default
the file's first, LiteRT's placeholder for a file without signatures) and ``gpu_float32``
(the GPU computes in float32: GpuOptions.enforce_f32). It prints one JSON
line: ``accepted``, ``reason`` (the accelerator's first error line when it refused),
``fully_accelerated`` and ``times_ms``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


def _compile(request: dict):
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import Options

    accelerator = {
        "cpu": HardwareAccelerator.CPU,
        "gpu": HardwareAccelerator.GPU,
        "npu": HardwareAccelerator.NPU,
    }[request["accelerator"]]
    options = Options(hardware_accelerators=accelerator)
    if request["accelerator"] == "cpu":
        options.cpu_options.num_threads = int(request["threads"])
    if request["accelerator"] == "gpu" and request.get("gpu_float32"):
        options.gpu_options.enforce_f32 = True
    with open(request["path"], "rb") as handle:
        data = handle.read()
    return CompiledModel.from_buffer(data, options=options)


def run_reference(request: dict) -> dict:
    """LiteRT's builtin kernels with no delegate: what a quantized file means."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(
            model_path=request["path"],
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
    except Exception as error:
        return {"accepted": False, "reason": _first_line(error)}
    feed = np.load(request["inputs"])
    inputs = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    signatures = interpreter.get_signature_list()
    if request.get("signature") in signatures:  # signature names -> tensor names
        runner_inputs = interpreter.get_signature_runner(request["signature"]).get_input_details()
        runner_outputs = interpreter.get_signature_runner(request["signature"]).get_output_details()
        inputs = {name: d["index"] for name, d in runner_inputs.items()}
        outputs = {name: d["index"] for name, d in runner_outputs.items()}
    written = {}
    try:
        for sample in range(int(request["samples"])):
            for name, index in inputs.items():
                interpreter.set_tensor(index, np.ascontiguousarray(feed[f"{sample}:{name}"]))
            interpreter.invoke()
            for name, index in outputs.items():
                written[f"{sample}:{name}"] = interpreter.get_tensor(index)
    except Exception as error:
        return {"accepted": False, "reason": f"run failed: {_first_line(error)}"}
    np.savez(request["outputs"], **written)
    return {"accepted": True, "reason": None, "fully_accelerated": False, "times_ms": []}


def run(request: dict) -> dict:
    if request["accelerator"] == "reference":
        return run_reference(request)
    try:
        model = _compile(request)
    except Exception as error:  # LiteRT raises RuntimeError / ValueError with its status
        return {"accepted": False, "reason": _first_line(error)}
    signatures = model.get_signature_list()
    key = (
        request.get("signature")
        if request.get("signature") in signatures
        else next(iter(signatures))
    )
    signature = signatures[key]
    index = model.get_signature_index(key)
    details = model.get_output_tensor_details(key)
    feed = np.load(request["inputs"])
    inputs = model.create_input_buffers(index)
    outputs = model.create_output_buffers(index)

    def read(name: str, buffer) -> np.ndarray:
        shape = tuple(int(d) for d in details[name]["shape"])
        return buffer.read(int(np.prod(shape)), np.dtype(details[name]["dtype"])).reshape(shape)

    written, times = {}, []
    try:
        for sample in range(int(request["samples"])):
            for name, buffer in zip(signature["inputs"], inputs, strict=True):
                buffer.write(np.ascontiguousarray(feed[f"{sample}:{name}"]))
            model.run_by_index(index, inputs, outputs)
            for name, buffer in zip(signature["outputs"], outputs, strict=True):
                written[f"{sample}:{name}"] = read(name, buffer)
            if sample == 0:
                for _ in range(int(request["warmup"])):
                    model.run_by_index(index, inputs, outputs)
                for _ in range(int(request["runs"])):
                    started = time.perf_counter_ns()
                    model.run_by_index(index, inputs, outputs)
                    read(signature["outputs"][0], outputs[0])  # a GPU runs asynchronously
                    times.append((time.perf_counter_ns() - started) / 1e6)
    except Exception as error:
        return {"accepted": False, "reason": f"run failed: {_first_line(error)}"}
    np.savez(request["outputs"], **written)
    return {
        "accepted": True,
        "reason": None,
        "fully_accelerated": bool(model.is_fully_accelerated()),
        "times_ms": times,
    }


def main() -> None:
    request = json.loads(sys.argv[1])
    try:
        result = run(request)
    except Exception as error:
        result = {"accepted": False, "reason": _first_line(error)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
