"""Test settings: quiet TensorFlow, deterministic seeds, and a shared model cache."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def run_benchmark():
    """``run_benchmark("numerics", *args)`` runs ``benchmarks/numerics.py`` in a fresh
    interpreter from the repository root; the completed process (text output captured)."""
    root = Path(__file__).resolve().parents[1]

    def run(script: str, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, str(root / "benchmarks" / f"{script}.py"), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=root)

    return run
