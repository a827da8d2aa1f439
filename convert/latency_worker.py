"""Time one .tflite file at one thread count, in a process of its own (used by convert.bench).

Run as a script, never imported: ``python -I latency_worker.py '<json request>'``. It
imports only the standard library, numpy and ``ai_edge_litert`` (no TensorFlow), so the
memory it measures is the interpreter's. The request holds ``path``, ``threads``, ``runs``,
``warmup``, ``seed``, ``xnnpack`` (False disables LiteRT's default delegates) and
``ranges`` (one ``[low, high]`` float range per input, or null). It prints one JSON line:
the timings in milliseconds, and the memory and threads the interpreter added.

Memory: on Linux the peak resident set (VmHWM) is reset through ``/proc/self/clear_refs``
after the imports, and the answer is VmHWM after the runs minus VmRSS before the model is
loaded: the peak resident memory added by loading the model (``model_path`` maps the
file; touched pages count), creating the interpreter and its delegate, allocating the
tensors and running it. ``ru_maxrss`` is not used there: a child started from a large
process inherits the parent's high-water mark through exec, which hides the child's own
growth. Elsewhere the fallback is the difference of ``ru_maxrss``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def _status() -> dict[str, int]:
    """VmRSS and VmHWM in KiB and the thread count, from /proc/self/status ({} elsewhere)."""
    found = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    found[key] = int(value.split()[0])
    except OSError:
        return {}
    return found


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident set (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def _maxrss_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def _inputs(details: list[dict], ranges: list | None, seed: int) -> list[np.ndarray]:
    """Random arrays honouring each input's dtype and shape; integer inputs are quantized
    from the float range (the full integer range when none is known)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for i, detail in enumerate(details):
        dtype = np.dtype(detail["dtype"])
        shape = tuple(int(d) for d in detail["shape"])
        value_range = ranges[i] if ranges and i < len(ranges) else None
        scale, zero_point = detail["quantization"]
        if dtype.kind == "f":
            low, high = value_range or (0.0, 1.0)
            arrays.append(rng.uniform(low, high, size=shape).astype(dtype))
        elif dtype.kind in "iu" and scale:
            limits = np.iinfo(dtype)
            if value_range is None:
                low = (limits.min - zero_point) * scale
                high = (limits.max - zero_point) * scale
            else:
                low, high = value_range
            values = rng.uniform(low, high, size=shape) / scale + zero_point
            arrays.append(np.clip(np.round(values), limits.min, limits.max).astype(dtype))
        else:  # bool, or integers without quantization (indices): 0 or 1
            arrays.append(rng.integers(0, 2, size=shape).astype(dtype))
    return arrays


def run(request: dict) -> dict:
    threads = int(request["threads"])
    default = OpResolverType.AUTO  # LiteRT's optimized kernels plus its default delegate
    resolver = default if request["xnnpack"] else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    precise = _reset_peak() and bool(_status())
    before = _status()
    maxrss_before = _maxrss_kib()

    interpreter = Interpreter(
        model_path=request["path"], num_threads=threads, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    arrays = _inputs(details, request["ranges"], request["seed"])
    for detail, array in zip(details, arrays, strict=True):
        interpreter.set_tensor(detail["index"], array)
    for _ in range(request["warmup"]):
        interpreter.invoke()
    times = []
    for _ in range(request["runs"]):
        started = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - started) / 1e6)
    outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    after = _status()
    if precise:
        peak_kib = after["VmHWM"] - before["VmRSS"]
        method = "VmHWM after runs - VmRSS before loading (peak reset after imports)"
    else:
        peak_kib = _maxrss_kib() - maxrss_before
        method = "ru_maxrss after runs - ru_maxrss before loading"
    ops = interpreter._get_ops_details()  # includes the DELEGATE nodes that replaced ops
    return {
        "times_ms": times,
        "peak_kib": int(peak_kib),
        "memory_method": method,
        "threads_added": after.get("Threads", 0) - before.get("Threads", 0) if after else None,
        "delegate_partitions": sum(op["op_name"] == "DELEGATE" for op in ops),
        "outputs_finite": all(
            bool(np.isfinite(o).all()) for o in outputs if np.dtype(o.dtype).kind == "f"
        ),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "pid": os.getpid(),
    }


def main() -> None:
    request = json.loads(sys.argv[1])
    try:
        result = run(request)
    except Exception as error:  # the interpreter raises ValueError / RuntimeError on bad files
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(json.dumps({"error": f"{type(error).__name__}: {first}"}), flush=True)
        sys.exit(1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
