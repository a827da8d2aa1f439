"""The import graph of the project's packages: cycles, module sizes and private imports.

    python tools/architecture.py [--json FILE]

Reads every module of ``zoo`` and ``convert`` statically (no import runs). Imports at module
level and inside functions count alike; those under ``if TYPE_CHECKING:`` do not. Prints
each import cycle (a strongly connected group of modules), every module over the size
limit, and every import of a private name or module from outside its own package; exits 1
if any is found.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "convert")
MAX_LINES = 600


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    imports: dict[str, int] = field(default_factory=dict)  # imported module -> first line
    private: list[str] = field(default_factory=list)  # "line: what" for private imports

    @property
    def package(self) -> str:
        is_package = self.path.name == "__init__.py"
        return self.name if is_package else self.name.rpartition(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_modules(packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    modules = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = module_name(path)
            modules[name] = Module(name, path, len(path.read_text().splitlines()))
    for module in modules.values():
        collect_imports(module, modules)
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST):
    """Every import statement, at any depth, outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _owner(name: str, modules: dict[str, Module]) -> str | None:
    """The project module that ``name`` (a dotted module or module.attribute) lives in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def collect_imports(module: Module, modules: dict[str, Module]) -> None:
    tree = ast.parse(module.path.read_text(), filename=str(module.path))
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _resolve(module, node)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            owner = _owner(target, modules)
            if owner is None or owner == module.name:
                continue
            module.imports.setdefault(owner, node.lineno)
            home = modules[owner].package
            outside = not (module.name + ".").startswith(home + ".")
            if outside and _is_private(target.removeprefix(home)):
                module.private.append(f"{node.lineno}: {target}")


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in modules[name].imports:
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(modules)))
    for name in modules:
        if name not in index:
            visit(name)
    return sorted(groups, key=len, reverse=True)


def report(modules: dict[str, Module]) -> dict:
    return {
        "modules": len(modules),
        "cycles": cycles(modules),
        "over_limit": {
            m.name: m.lines
            for m in sorted(modules.values(), key=lambda m: -m.lines)
            if m.lines > MAX_LINES
        },
        "private_imports": {m.name: m.private for m in modules.values() if m.private},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the findings to this file")
    args = parser.parse_args(argv)
    modules = read_modules()
    found = report(modules)
    print(f"{found['modules']} modules in {', '.join(PACKAGES)}")
    print(f"import cycles: {len(found['cycles'])}")
    for group in found["cycles"]:
        print(f"  {len(group)} modules: {', '.join(group)}")
    print(f"modules over {MAX_LINES} lines: {len(found['over_limit'])}")
    for name, lines in found["over_limit"].items():
        print(f"  {name}: {lines}")
    print(f"modules importing private names from other packages: {len(found['private_imports'])}")
    for name, imports in found["private_imports"].items():
        print(f"  {name}: {'; '.join(imports)}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")
    return 1 if found["cycles"] or found["over_limit"] or found["private_imports"] else 0


if __name__ == "__main__":
    sys.exit(main())
