"""The report: :class:`Fallback`, :class:`TargetReport`, :class:`DelegateReport` and its text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from convert.delegates.targets import STRICT_TARGETS, TARGETS
from zoo.errors import ZooError
from zoo.tables import text_table


@dataclass(frozen=True)
class Fallback:
    """An op that runs on the CPU for a target, and why. ``boundary``: a float-I/O conversion."""

    index: int
    op: str
    version: int
    reason: str
    boundary: bool = False

    def describe(self) -> str:
        return f"#{self.index} {self.op} v{self.version}: {self.reason}"


@dataclass
class TargetReport:
    """One target's verdict: ``supported`` when every op runs on it (I/O conversions aside)."""

    target: str
    title: str
    rules: str
    supported: bool
    delegated: int
    total: int
    partitions: int
    fallback: list[Fallback] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blocked: str | None = None
    measured: bool | None = None  # CompiledModel.is_fully_accelerated (xnnpack only)

    @property
    def problems(self) -> list[Fallback]:
        return [f for f in self.fallback if not f.boundary]

    def verdict(self) -> str:
        if self.blocked:
            return f"refused: {self.blocked}"
        if self.supported:
            extra = sum(f.boundary for f in self.fallback)
            return "all ops" + (f" (+{extra} I/O conversion on CPU)" if extra else "")
        if not self.problems:  # XNNPACK measured, with no op named by the static view
            return "not fully accelerated (CompiledModel)"
        return f"{len(self.problems)} op(s) fall back"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict()
        return data


@dataclass
class DelegateReport:
    """Facts about a .tflite file and one :class:`TargetReport` per target."""

    source: str
    size: int
    subgraphs: int
    ops: list[dict[str, Any]]
    op_versions: dict[str, int]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    precision: str  # float32 | float16 | dynamic | int8 | int16x8
    fully_integer: bool
    float_ops: list[str]
    dynamic_tensors: list[str]
    runtime_sized: list[str]
    custom_ops: list[str]
    flex_ops: list[str]
    targets: dict[str, TargetReport]

    def target(self, name: str) -> TargetReport:
        if name not in self.targets:
            raise ZooError(f"unknown target {name!r}; expected one of {', '.join(TARGETS)}")
        return self.targets[name]

    @property
    def strict_targets(self) -> tuple[str, ...]:
        """The targets this file is meant for (by precision): what ``--strict`` covers."""
        return STRICT_TARGETS[self.precision]

    def failures(self, targets: Iterable[str] | None = None) -> list[TargetReport]:
        names = list(targets) if targets else list(self.strict_targets)
        return [self.target(name) for name in names if not self.target(name).supported]

    def require(self, targets: Iterable[str] | None = None) -> None:
        """Raise a one-line :class:`ZooError` when anything falls back on the given targets."""
        failed = self.failures(targets)
        if not failed:
            return
        parts = []
        for report in failed:
            first = report.problems[0].describe() if report.problems else report.verdict()
            more = len(report.problems) - 1
            parts.append(f"{report.target}: {first}" + (f" (+{more} more)" if more > 0 else ""))
        raise ZooError(f"{self.source} does not run whole on {'; '.join(parts)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = {name: report.to_dict() for name, report in self.targets.items()}
        data["strict_targets"] = list(self.strict_targets)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        io = ", ".join(f"{t['name']} {t['dtype']} {t['shape']}" for t in self.inputs)
        out = ", ".join(f"{t['name']} {t['dtype']} {t['shape']}" for t in self.outputs)
        ops = ", ".join(f"{name} v{v}" for name, v in self.op_versions.items())
        lines = [
            f"{self.source}: {self.size:,} bytes, {len(self.ops)} ops, {self.precision} "
            f"(fully integer: {'yes' if self.fully_integer else 'no'})",
            f"inputs: {io}",
            f"outputs: {out}",
            f"ops: {ops or 'none'}",
            f"dynamic tensors: {_listing(self.dynamic_tensors)}",
            f"sizes computed at run time: {_listing(self.runtime_sized)}",
            f"custom ops: {_listing(self.custom_ops)}",
        ]
        if self.float_ops and self.precision in {"int8", "int16x8"}:
            lines.append(f"float ops inside: {_listing(self.float_ops)}")
        rows = [("target", "delegated", "partitions", "verdict by the delegate's rules (static)")]
        for name in TARGETS:
            report = self.targets[name]
            marker = "*" if name in self.strict_targets else " "
            rows.append(
                (
                    f"{marker}{name}",
                    f"{report.delegated}/{report.total}",
                    str(report.partitions),
                    report.verdict(),
                )
            )
        lines += [
            "",
            text_table(rows, header=False),
            f"(* = covered by --strict for {self.precision} files)",
        ]
        for name in TARGETS:
            report = self.targets[name]
            lines.append(f"\n{name}: {report.title}")
            groups: dict[str, list[str]] = {}
            for item in report.fallback:
                tag = " (I/O conversion)" if item.boundary else ""
                groups.setdefault(item.reason + tag, []).append(
                    f"#{item.index} {item.op} v{item.version}"
                )
            lines += [f"  CPU: {_listing(names)}: {why}" for why, names in groups.items()]
            lines += [f"  note: {note}" for note in report.notes]
        lines.append("\nrules:")
        lines += [f"  {name}: {self.targets[name].rules}" for name in TARGETS]
        return "\n".join(lines)


def _listing(items: list[str], limit: int = 6) -> str:
    if not items:
        return "none"
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
