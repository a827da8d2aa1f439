"""The zoo's models against their classical and baseline peers, same data, same protocol.

Three sections, each computed by ``benchmarks/peer_comparisons.py`` (whose docstring says
exactly how):

- super-resolution: FSRCNN (and FSRCNN-s) vs ESPCN (the baseline without transposed
  convolution) vs bicubic per scale on Set5 (``--sr-data``; skipped with a note when the
  folder is missing), by ``zoo eval``'s protocol, with parameters, multiply-accumulates
  and host TFLite latency (float32 and int8, 1 thread, at the export size);
- deblurring: ``deblur`` (blind) and ``deblur_nonblind`` (given the kernel) vs scikit-image's
  Richardson-Lucy and Wiener given the true kernel, tuned per kernel on held-out photos, on
  ``zoo eval deblur``'s inputs;
- denoising: ``rednet_photos`` (``--denoise-model dae_photos`` for the autoencoder) vs TV
  (Chambolle) and non-local means, tuned on held-out photos, on ``zoo eval``'s noisy images.

Weights are the shipped ones (``zoo/weights``) unless ``--weights NAME=PATH`` names a run
folder or a ``.weights.h5`` file; a model with neither is skipped with a note. Writes
``peers.json`` and ``peers.md`` under ``benchmarks/results/`` (sections measured earlier and
not named by ``--sections`` are kept, each with the command that measured it) and prints the
Markdown.

    python benchmarks/peers.py [--sr-data DIR] [--weights fsrcnn_x3=runs/x3 ...] [--limit N]
        [--sections sr,deblur,denoise] [--deblur-models deblur,deblur_nonblind] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SR_DATA = REPO.parent / "shared" / "data" / "sr" / "Set5"  # ../shared/data/sr/Set5
SECTIONS = ("sr", "deblur", "denoise")
SECTION_KEYS = {"sr": "super_resolution", "deblur": "deblur", "denoise": "denoise"}


def parse_weights(items: list[str]) -> dict[str, str]:
    """['name=PATH', ...] -> {name: PATH}: registered names, existing paths (or 'default')."""
    from zoo import models
    from zoo.errors import ZooError

    weights = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ZooError(f"--weights takes NAME=PATH (a run folder or .weights.h5); got {item!r}")
        models.info(name)  # an unknown name is a one-line UnknownModelError
        if path != "default" and not Path(path).expanduser().exists():
            raise ZooError(f"--weights {name}={path}: {path} does not exist")
        weights[name] = path
    return weights


def parse_sections(text: str) -> list[str]:
    from zoo.errors import ZooError

    sections = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        raise ZooError(f"--sections takes some of {', '.join(SECTIONS)}; got {text!r}")
    return sections


def run_sections(args: argparse.Namespace, weights: dict[str, str]) -> dict[str, Any]:
    """Each requested section's result dict, or {"section", "skipped": reason}."""
    from benchmarks import peer_comparisons as peers

    results: dict[str, Any] = {}
    common = {"limit": args.limit, "seed": args.seed, "log": print}
    restoration = {
        "data": args.data,
        "tune_images": args.tune_images,
        "tune_size": args.tune_size,
        **common,
    }
    for section in args.sections:
        key = SECTION_KEYS[section]
        if section == "sr":
            folder = Path(args.sr_data).expanduser()
            if not folder.is_dir():
                reason = f"no super-resolution data at {folder} (pass --sr-data)"
                print(f"note: super-resolution skipped: {reason}", flush=True)
                results[key] = {"section": key, "skipped": reason}
                continue
            results[key] = peers.super_resolution_comparison(
                folder,
                models=args.sr_models.split(","),
                weights=weights,
                latency=not args.no_latency,
                runs=args.runs,
                warmup=args.warmup,
                **common,
            )
            continue
        names = args.deblur_models.split(",") if section == "deblur" else [args.denoise_model]
        chosen = {name: peers.resolve_weights(name, weights) for name in names}
        for name in [name for name, path in chosen.items() if path is None]:
            reason = f"{name} has no shipped weights; pass --weights {name}=RUN"
            print(f"note: {key}: {name} skipped: {reason}", flush=True)
            del chosen[name]
        if not chosen:
            reason = f"{', '.join(names)}: no weights (pass --weights NAME=RUN)"
            results[key] = {"section": key, "models": names, "skipped": reason}
            continue
        if section == "deblur":
            results[key] = peers.deblur_comparison(chosen, **restoration)
        else:
            ((model, path),) = chosen.items()
            results[key] = peers.denoise_comparison(path, model=model, **restoration)
    return results


def _place(path: str) -> str:
    """A folder by its last two parts (the data stay outside the repository)."""
    parts = Path(path).parts
    return path if len(parts) <= 2 else "/".join(parts[-2:])


def to_markdown(report: dict[str, Any]) -> str:
    """The header (machine, command, weights) and one section per comparison."""
    from benchmarks import peer_comparisons as peers

    weights = report["weights"]
    named = ", ".join(f"`{k}={v}`" for k, v in weights.items()) or "none"
    limit = "" if report["limit"] is None else f", at most {report['limit']} images"
    lines = [
        "# The zoo against its peers",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`. Seed {report['seed']}"
        f"{limit}. "
        f"Weights: shipped (`zoo/weights`) unless named here: {named}.",
        "",
        "Quality numbers are `zoo eval`'s own protocol and inputs for each model; the "
        "classical methods run on exactly the same degraded images.",
    ]
    for key, title in (
        ("super_resolution", "Super-resolution"),
        ("deblur", "Deblurring"),
        ("denoise", "Denoising"),
    ):
        result = report["sections"].get(key)
        if result is None:
            continue
        lines += ["", f"## {title}", ""]
        if "command" in result:
            lines += [f"Measured by `{result['command']}`.", ""]
        if "skipped" in result and "rows" not in result:
            lines.append(f"Skipped: {result['skipped']}.")
            continue
        lines += [_section_header(result), "", peers.to_markdown(result)]
    return "\n".join(lines) + "\n"


def _section_header(result: dict[str, Any]) -> str:
    count = result["samples"]
    data = f"`{_place(result['data'])}` ({count} image{'' if count == 1 else 's'})"
    if result["section"] == "super_resolution":
        text = [f"Data: {data}. Protocol: {result['protocol']}"]
        text.append(
            "Cost: parameters; multiply-accumulates of Conv2D / Conv2DTranspose / Dense "
            "layers (`zoo.arithmetic.model_macs`) for one low-resolution input at the export "
            "size, and per output pixel. ESPCN is the zoo's baseline: sub-pixel convolution, "
            "no transposed convolution."
        )
        latency = result.get("latency")
        if latency:
            text.append(
                f"Latency: {latency['how']}, {latency['threads']} thread, {latency['warmup']} "
                f"warm-up then {latency['runs']} timed runs (`convert.bench.bench_model`)."
            )
        return " ".join(text)
    tuning = result["tuning"]
    learned = result.get("models") or {result["model"]: result["weights"]}
    named = ", ".join(f"`{name}` (weights `{path}`)" for name, path in learned.items())
    return (
        f"Model{'s' if len(learned) > 1 else ''}: {named}. Data: {data}. "
        f"Protocol: {result['protocol']} Tuning ({tuning['scope']}, by {tuning['criterion']}): "
        f"{tuning['note']}."
    )


def _earlier_sections(path: Path) -> dict[str, Any]:
    """The sections of an earlier ``peers.json`` (none if it is missing or unreadable)."""
    try:
        return dict(json.loads(path.read_text()).get("sections", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sr-data", default=str(SR_DATA), help="super-resolution image folder")
    parser.add_argument(
        "--weights", action="append", default=[], metavar="NAME=PATH", help="repeatable"
    )
    parser.add_argument("--limit", type=int, help="at most this many test images per section")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--sr-models", default=None, help="comma-separated (default: all nine)")
    parser.add_argument(
        "--deblur-models",
        default="deblur,deblur_nonblind",
        help="comma-separated, compared on the first one's inputs",
    )
    parser.add_argument("--denoise-model", default="rednet_photos")
    parser.add_argument("--data", help="deblur/denoise test images (default: zoo eval's)")
    parser.add_argument("--tune-images", type=int, default=16, help="held-out images to tune on")
    parser.add_argument("--tune-size", type=int, default=128, help="held-out crop size")
    parser.add_argument("--runs", type=int, default=20, help="timed TFLite runs")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-latency", action="store_true", help="skip the TFLite timing")
    given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(given)

    from benchmarks import peer_comparisons as peers
    from convert.bench import machine
    from zoo.errors import ZooError
    from zoo.evaluate import jsonable
    from zoo.files import write_text_atomically

    started = time.perf_counter()
    try:
        weights = parse_weights(args.weights)
        args.sections = parse_sections(args.sections)
        args.sr_models = args.sr_models or ",".join(peers.SR_MODELS)
        compared = {*args.sr_models.split(","), *args.deblur_models.split(","), args.denoise_model}
        for name in sorted(set(weights) - compared):
            print(f"note: --weights {name}: not compared here, ignored", flush=True)
        sections = run_sections(args, weights)
    except ZooError as error:
        raise SystemExit(f"Error: {error}") from None
    command = shlex.join(["python", "benchmarks/peers.py", *given])
    for result in sections.values():
        result["command"] = command
    path = args.out / "peers.json"
    sections = {**_earlier_sections(path), **sections}  # sections not named now are kept
    report = {
        "machine": machine(),
        "command": command,
        "seed": args.seed,
        "limit": args.limit,
        "weights": weights,
        "sections": sections,
        "seconds": round(time.perf_counter() - started, 1),
    }
    markdown = to_markdown(report)
    text = json.dumps(report, indent=2, default=jsonable) + "\n"
    write_text_atomically(args.out / "peers.json", text)
    write_text_atomically(args.out / "peers.md", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
