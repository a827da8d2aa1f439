"""Quiet native logs: the `zoo` command's stderr without TensorFlow's and LiteRT's own chatter.

TensorFlow 2.21 writes its start-up lines (the absl notice, oneDNN, the CUDA stub, CPU
features) from C++ before its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` does not
hold them back, and LiteRT writes ``INFO:`` lines for every interpreter and ``WARNING:``
lines (with "└" continuations) for every NPU plugin it cannot load. :func:`quiet_native_logs`
points file descriptor 2 at a pipe and forwards every line but those (``zoo --verbose`` keeps
them). Error-level native lines pass, except the CUDA driver probe's on a machine without one.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|To enable the following instructions:"
    rb"|INFO: "
    rb"|WARNING: \[[\w./]+\.cc:\d+\] "
    rb"|\xe2\x94\x94 "
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "
    rb"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ cuda\w*\.cc:\d+\] failed call to cuInit)"
)


def is_noise(line: bytes) -> bool:
    """Whether a stderr line is a native log line that ``zoo`` hides by default."""
    return NATIVE_NOISE.match(line) is not None


def quiet_native_logs() -> None:
    """Filter this process's stderr (fd 2) through :func:`is_noise`, until it exits.

    Does nothing when ``sys.stderr`` is not fd 2 (inside a test runner) or when already on.
    """
    global _forwarder
    try:
        if _forwarder is not None or sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(original, "wb", buffering=0) as out:
            for line in pipe:
                if not is_noise(line):
                    out.write(line)

    _forwarder = threading.Thread(target=forward, name="zoo-stderr", daemon=True)
    _forwarder.start()
    restored = os.dup(original)

    def finish() -> None:
        # fd 2 back to the terminal closes the pipe's last writer: the thread drains and ends
        sys.stderr.flush()
        os.dup2(restored, 2)
        os.close(restored)
        _forwarder.join(timeout=5)

    atexit.register(finish)


_forwarder: threading.Thread | None = None
