"""Project-level promises: CI runs exactly the README's test command, and the suite's exit
status is its tests'."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert all(command.startswith("python3.11 -m venv .venv") for command in commands)


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def test_imports_point_one_way_and_modules_stay_small():
    """tools/architecture.py: no import cycle (function-local imports count), no module over
    600 lines, no private name imported from another package."""
    from tools import architecture

    found = architecture.report(architecture.read_modules())
    assert found["modules"] > 50
    assert found["cycles"] == [], found["cycles"]
    assert found["over_limit"] == {}, found["over_limit"]
    assert found["private_imports"] == {}, found["private_imports"]


def test_the_architecture_reader_finds_cycles_and_private_imports(tmp_path, monkeypatch):
    from tools import architecture

    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "_hidden.py").write_text("VALUE = 1\n")
    (package / "a.py").write_text("def f():\n    from pkg import b  # a function-local import\n")
    (package / "b.py").write_text("import pkg.a\nfrom pkg.sub import _hidden\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    monkeypatch.setattr(architecture, "ROOT", tmp_path)
    found = architecture.report(architecture.read_modules(("pkg",)))
    assert found["cycles"] == [["pkg.a", "pkg.b"]]
    assert found["private_imports"] == {"pkg.b": ["2: pkg.sub._hidden"]}


@pytest.mark.parametrize(("outcome", "status"), [("True", 0), ("False", 1)])
def test_the_suite_exits_with_its_status_before_the_interpreter_teardown(tmp_path, outcome, status):
    """tests/conftest.py ends the process once pytest is done: the status is the session's,
    and nothing registered for the interpreter's teardown runs (where a native library's
    crash would fail a passed run)."""
    test = tmp_path / "test_one.py"
    test.write_text(
        "import atexit\n"
        "atexit.register(print, 'interpreter teardown ran')\n"
        f"def test_one():\n    assert {outcome}\n"
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", str(test)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == status, done.stdout + done.stderr
    assert ("1 passed" if status == 0 else "1 failed") in done.stdout
    assert "interpreter teardown ran" not in done.stdout + done.stderr
