"""The notebooks in notebooks/: executed end to end, committed clean, public API only.

Each notebook runs in a fresh IPython kernel with ``ZOO_NOTEBOOK_SMALL=1`` (small images,
few training steps) and a temporary working directory, so what it writes lands there. The
kernel is this interpreter (``sys.executable``): its spec is written to a temporary folder
rather than looked up among the installed kernels, which may name another Python.

Notebooks are committed without outputs or execution counts (small, diff-friendly files),
start with a markdown title, and import only the zoo's public names, never ``tests`` or
``benchmarks``.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell
KERNEL = "python3"
FORBIDDEN_ROOTS = ("tests", "benchmarks")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours of IPython's tracebacks

PARAMS = [pytest.param(path, id=path.name) for path in NOTEBOOKS]


def _read(path: Path):
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def _kernel_manager(kernel_dir: Path):
    """An async kernel manager whose "python3" kernel runs ``sys.executable``."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    write_kernel_spec(kernel_dir / KERNEL)  # argv: [sys.executable, "-m", "ipykernel_launcher"]
    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    assert specs.get_kernel_spec(KERNEL).argv[0] == sys.executable
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", PARAMS)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # The kernel inherits this environment: small settings, quiet TensorFlow, this checkout.
    monkeypatch.setenv("ZOO_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), pythonpath])))
    workdir = tmp_path / "cwd"
    workdir.mkdir()

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        km=_kernel_manager(tmp_path / "kernels"),
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(workdir)}},
    )
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        failure = ANSI.sub("", str(error))  # the cell, its output and the traceback
        nbformat.write(notebook, tmp_path / path.name)  # the executed copy, for a look
    if failure:
        pytest.fail(f"{path.name}: {failure}", pytrace=False)


@pytest.mark.parametrize("path", PARAMS)
def test_notebook_is_committed_clean(path: Path):
    """Valid nbformat 4, a markdown title first, no outputs or execution counts."""
    notebook = _read(path)
    assert notebook.nbformat == 4, f"nbformat {notebook.nbformat}"
    nbformat.validate(notebook)
    assert notebook.cells, "empty notebook"
    first = notebook.cells[0]
    assert first.cell_type == "markdown", "the first cell must be markdown with a title"
    assert re.match(r"#\s+\S", first.source.lstrip()), "the first cell must start with '# Title'"
    for index, cell in enumerate(notebook.cells):
        assert cell.source.strip(), f"cell {index} is empty"
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {index} has stored outputs: clear them"
            assert cell.execution_count is None, f"cell {index} has an execution count"
    kernel = notebook.metadata.get("kernelspec", {}).get("name", KERNEL)
    assert kernel == KERNEL, f"kernelspec {kernel!r}; expected {KERNEL!r}"


def _code(notebook) -> str:
    """The code cells as one module; IPython magics and shell lines commented out."""
    lines = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            stripped = line.lstrip()
            lines.append(f"# {line}" if stripped.startswith(("%", "!")) else line)
        lines.append("")
    return "\n".join(lines)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None for anything but a chain of names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def api_violations(source: str) -> list[str]:
    """Private zoo names, and imports of tests or benchmarks, used by ``source``."""
    tree = ast.parse(source)
    problems = []
    zoo_names: set[str] = set()  # local names bound to zoo modules or objects
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in FORBIDDEN_ROOTS:
                    problems.append(f"line {node.lineno}: import {alias.name}")
                if parts[0] == "zoo":
                    zoo_names.add(alias.asname or "zoo")
                    if any(_private(p) for p in parts):
                        problems.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level or parts[0] in FORBIDDEN_ROOTS:
                problems.append(f"line {node.lineno}: from {'.' * node.level}{node.module} import")
            if parts[0] == "zoo":
                zoo_names.update(alias.asname or alias.name for alias in node.names)
                if any(_private(p) for p in parts):
                    problems.append(f"line {node.lineno}: from {node.module} import")
                problems += [
                    f"line {node.lineno}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if _private(alias.name)
                ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if not chain or chain[0] not in zoo_names:
                continue
            private = [i for i, part in enumerate(chain) if i and _private(part)]
            if private:  # reported up to the first private part, once per chain
                problems.append(f"line {node.lineno}: {'.'.join(chain[: private[0] + 1])}")
    return sorted(set(problems))


def test_api_check_catches_private_names():
    source = (
        "import zoo\nimport zoo.data._image\nfrom zoo.arithmetic import _padding, conv_matrix\n"
        "from zoo import data as zd\nfrom tests.harness import run\nimport benchmarks\n"
        "zd._image.as_float(1)\nzoo.data.load('digits').__class__\n"
    )
    found = api_violations(source)
    assert found == [
        "line 2: import zoo.data._image",
        "line 3: from zoo.arithmetic import _padding",
        "line 5: from tests.harness import",
        "line 6: import benchmarks",
        "line 7: zd._image",
    ], found


@pytest.mark.parametrize("path", PARAMS)
def test_notebook_uses_the_public_api(path: Path):
    problems = api_violations(_code(_read(path)))
    assert not problems, f"{path.name} reaches past the public API: {problems}"
