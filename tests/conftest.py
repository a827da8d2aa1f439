"""Test settings: quiet TensorFlow, deterministic seeds, a shared model cache, and an exit
that skips the interpreter's teardown once the results are reported."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit with the session's status once every plugin has finished, without the
    interpreter's teardown: the native libraries the suite loads (TensorFlow, LiteRT and its
    GPU accelerator on SwiftShader) can crash while they unload, a segmentation fault after
    the summary that would fail a run whose tests all passed."""
    if EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[EXIT_STATUS])


@pytest.fixture
def run_benchmark():
    """``run_benchmark("numerics", *args)`` runs ``benchmarks/numerics.py`` in a fresh
    interpreter from the repository root; the completed process (text output captured)."""
    root = Path(__file__).resolve().parents[1]

    def run(script: str, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, str(root / "benchmarks" / f"{script}.py"), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=root)

    return run
