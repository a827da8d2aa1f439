"""Keras model -> TFLite (LiteRT) flatbuffer that phone delegates take whole.

Every file is batch 1 with static shapes, builtin ops only (no Flex, no custom ops), one
``serving_default`` signature whose inputs and output carry the model's own names, and the
zoo's metadata (name, task, mode, input and output ranges, weights digest, parity) inside
the flatbuffer and beside it as JSON.

Modes (``mode=``):

- ``float32``: the reference.
- ``float16``: float16 weights, float32 compute on CPU; the GPU delegates' format.
- ``dynamic``: int8 weights, float activations (dynamic-range quantization).
- ``int8``: full integer: per-channel int8 weights, int8 activations calibrated on
  representative data, int8 input and output (``float_io=True`` keeps float I/O).
- ``int16x8``: int16 activations, int8 weights, float input and output (the converter's
  experimental mode; ops without an int16 kernel stay float).

The converter fuses a ReLU into a preceding TRANSPOSE_CONV whenever the convolution has a
non-zero bias (always, once trained or once a BatchNormalization is folded into it), which
raises the op to version 4, and GPU delegates take version 3 at most. Rather than hope the
graph avoids it, :func:`convert.flatbuffer.unfuse_transpose_conv_activations` rewrites the
written file: the activation becomes its own op. :func:`convert.flatbuffer.check_deployable`
then proves the result on the bytes.

Parity is part of every conversion: the Keras model and the interpreter run the same fixed
inputs (drawn from the model's data) and :class:`Parity` records the agreement.

``lowering="auto"`` (the default) converts a copy whose transposed convolutions are
CONV_2D + DEPTH_TO_SPACE (:mod:`convert.lowering`): exact, several times faster on XNNPACK,
right on LiteRT's GPU accelerator where its TRANSPOSE_CONV is not, and per-phase scales in
int8. ``lowering="cpu"`` (for XNNPACK) also gives a float file's k4 s2-like layers one
convolution per output phase, without the shared kernel's zero taps. Under both, an int8 file's
PReLUs become ReLU convolutions (:func:`convert.lowering.split_prelus`: XNNPACK has no int8
PRELU, and the split halves round finer) and a skip added to a transposed convolution joins it
(:mod:`convert.skips`). ``lowering="none"`` keeps TRANSPOSE_CONV
(the Edge TPU compiler has no DEPTH_TO_SPACE). The metadata records ``"lowering"`` and
``"lowered"`` (the count).

``equalize=True`` converts a cross-layer-equalized copy (:mod:`convert.equalize`, Nagel et
al. 2019) instead of the model itself: the same function, with channel ranges evened out
between convolutions so int8 loses less (fsrcnn_x3 on Set5: 1.12 dB -> 0.60 dB). The
caller's model is never changed, and parity is measured against it. The metadata of such a
file has ``"equalized"`` (false when the model has no equalizable pair) and
``"equalized_pairs"``; ``weights_sha256`` stays the caller's weights.

``rounding="gptq"`` (the default) makes a calibrated integer file from a copy whose ReLU-joined
convolution pairs have their activation ranges balanced (``equalize`` with
``target="activations"``; the paper's balance instead with ``equalize=True``) and whose
convolution weights GPTQ rounded onto the converter's grid (:mod:`convert.rounding`); an int8
output that spans [0, 1] gets the 8-bit image grid (:func:`convert.flatbuffer.pin_pixel_output`),
and so does an input whose spec names its levels (:func:`convert.ranges.pin_input_levels`).
Set5 int8 cost with the converter's nearest rounding -> with these: fsrcnn_x2 0.99 -> 0.25 dB,
fsrcnn_s_x2 2.12 -> 0.20 dB (``benchmarks/results/int8_rounding.md``). The metadata records
``"rounding"``, ``"rounded_layers"``, ``"balanced_pairs"``, ``"pixel_output"`` and
``"pixel_inputs"``.
``rounding="best"`` (what ``zoo convert`` and ``zoo export`` use) writes the GPTQ file and
the nearest one and keeps the one whose output is closer to Keras on the calibration samples
(metadata ``"rounding_errors"``): an int8 chain can amplify a rounding that GPTQ judged per
layer (pix2pix_256 with frozen BatchNormalization: 3.97 dB lost by GPTQ, 0.44 by nearest).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convert import flatbuffer
from convert.converter import INTEGER_MODES, convert_graph
from convert.flatbuffer import SIGNATURE_KEY
from convert.parity import Parity, measure_parity, parity_inputs
from convert.ranges import narrow_ranges, output_error, pin_input_levels
from convert.representative import as_samples, representative_inputs
from convert.runtime import RuntimeReport, measure, weights_digest
from zoo.errors import ZooError
from zoo.registry import ModelInfo, TensorSpec

if TYPE_CHECKING:
    import keras

MODES = ("float32", "float16", "dynamic", "int8", "int16x8")
# ``auto``: every transposed convolution lowered (:mod:`convert.lowering`; every target but
# the Edge TPU); ``cpu``: for XNNPACK, float files also given one convolution per output
# phase where the shared kernel has zero taps; ``none``:
# TRANSPOSE_CONV kept.
LOWERINGS = ("auto", "cpu", "none")
# How integer files round their weights: ``gptq`` onto the grid where each layer's output
# moves least (:mod:`convert.rounding`), ``nearest`` the converter's own, ``best`` both and
# the file closer to Keras kept.
ROUNDINGS = ("gptq", "nearest", "best")
# How int8 files range their hidden activations: ``calibrated`` the converter's min-max,
# ``tuned`` narrowed where the file's output moves closer to Keras (:mod:`convert.ranges`).
RANGES = ("calibrated", "tuned")
FLOAT_MODES = ("float32", "float16")
SWITCH_NOTE = (
    "float16 file with float32 weights: float16 weights move the pooling windows' maxima, "
    "and the unpooling switches with them; the GPU still computes in its own precision"
)
# Fused activation -> the builtin op that computes it alone.


# === Results ===


@dataclass
class Conversion:
    """One converted model: the flatbuffer bytes, its metadata and its parity."""

    flatbuffer: bytes
    mode: str
    metadata: dict[str, Any]
    parity: Parity | None = None
    notes: list[str] = field(default_factory=list)
    accelerators: RuntimeReport | None = None

    @property
    def size(self) -> int:
        return len(self.flatbuffer)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.tflite) and ``path`` with .json beside it, each atomically."""
        from zoo.files import write_atomically, write_text_atomically

        path = Path(path)
        if not path.parent.is_dir():
            raise ZooError(f"folder {path.parent} does not exist")
        write_atomically(path, lambda temporary: temporary.write_bytes(self.flatbuffer))
        write_text_atomically(
            path.with_suffix(".json"), json.dumps(self.metadata, indent=2, default=_json) + "\n"
        )
        return path


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# === Conversion ===


def to_tflite(
    model: keras.Model | str,
    *,
    mode: str = "float32",
    size: tuple[int, int] | None = None,
    representative: Any = None,
    equalize: bool = False,
    **options: Any,
) -> bytes:
    """The flatbuffer of ``model`` (a Keras model or a registry name) in ``mode``.

    ``size=(H, W)`` fixes the spatial size of fully convolutional models (default: the
    model's export size). ``representative`` calibrates int8 / int16x8 (default: samples
    of the model's own dataset). ``equalize`` converts a cross-layer-equalized copy
    (:func:`convert.equalize.equalize`). Further options go to :func:`convert_model`.
    """
    return convert_model(
        model, mode=mode, size=size, representative=representative, equalize=equalize, **options
    ).flatbuffer


def convert_model(
    model: keras.Model | str,
    *,
    mode: str = "float32",
    size: tuple[int, int] | None = None,
    representative: Any = None,
    representative_count: int = 32,
    float_io: bool = False,
    info: ModelInfo | None = None,
    parity: bool = True,
    weights: str | None = None,
    quantization_aware: bool = False,
    equalize: bool = False,
    lowering: str = "auto",
    rounding: str = "gptq",
    ranges: str = "calibrated",
    merge_skips: bool = True,
    accelerators: bool = False,
    extra_metadata: dict[str, Any] | None = None,
) -> Conversion:
    """Convert, post-process, prove deployable and measure parity.

    ``info`` describes the model's inputs and output; it defaults to the registry's entry
    for the model's name (a model outside the registry gets specs from its own inputs).
    ``quantization_aware`` marks a tfmot QAT model: int8 takes its ranges from the model's
    fake quantization instead of calibrating. ``equalize`` converts a cross-layer-equalized
    copy (:func:`convert.equalize.equalize`; activation ranges from the calibration samples,
    else the model's data, else its weights); the metadata says ``"equalized"`` and parity
    still compares with ``model``. ``lowering`` is ``"auto"`` (transposed convolutions as
    CONV_2D + DEPTH_TO_SPACE, and an int8 file's PReLUs as ReLU convolutions), ``"cpu"``
    (also a float file's phases as convolutions of their own, for XNNPACK) or ``"none"``.
    ``rounding="gptq"`` rounds a calibrated integer file's convolution weights with
    :func:`convert.rounding.round_weights` (``"nearest"``: the converter's rounding;
    ``"best"``: both files made, the one closer to ``model`` kept) and
    balances the activation ranges first
    (:func:`convert.equalize.equalize` with ``target="activations"``) unless ``equalize``
    asks for the paper's balance; an int8 output that spans [0, 1] gets the 8-bit image grid
    (:func:`convert.flatbuffer.pin_pixel_output`), an input whose spec has ``levels`` those
    levels (:func:`convert.ranges.pin_input_levels`). ``ranges="tuned"`` narrows a calibrated
    int8 file's hidden activation ranges where its output moves closer to ``model``'s
    (:func:`convert.ranges.narrow_ranges`). ``merge_skips`` merges a calibrated integer
    file's skip added to a transposed convolution into it (:mod:`convert.skips`; not with
    ``lowering="none"``). ``accelerators`` runs the file on every
    LiteRT accelerator here (:func:`convert.runtime.measure`) on the parity inputs; the
    report lands in ``Conversion.accelerators`` and the metadata. ``extra_metadata`` joins
    the file's metadata.
    """
    if mode not in MODES:
        raise ZooError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if lowering not in LOWERINGS:
        raise ZooError(f"unknown lowering {lowering!r}; expected one of {', '.join(LOWERINGS)}")
    if rounding not in ROUNDINGS:
        raise ZooError(f"unknown rounding {rounding!r}; expected one of {', '.join(ROUNDINGS)}")
    if ranges not in RANGES:
        raise ZooError(f"unknown ranges {ranges!r}; expected one of {', '.join(RANGES)}")
    if equalize and quantization_aware:
        raise ZooError("equalize the float model before quantization-aware training, not after")
    if float_io and mode not in INTEGER_MODES:
        raise ZooError(f"float I/O is for integer files ({', '.join(INTEGER_MODES)}), not {mode}")
    model, info = _resolve(model, info, weights)
    shapes = input_shapes(info, size)
    calibration = None
    if quantization_aware and mode != "int8":
        raise ZooError(f"a quantization-aware model converts to int8, not {mode}")
    if mode in INTEGER_MODES and not quantization_aware:
        if representative is not None:
            calibration = as_samples(representative, shapes)
        elif info.recipe is not None and info.dataset:
            calibration = representative_inputs(info, size=size, count=representative_count)
        else:
            raise ZooError(f"{mode} needs representative data for a model outside the registry")

    def written(rounding: str) -> Conversion:
        return _written(
            model,
            info,
            shapes,
            calibration,
            mode=mode,
            float_io=float_io,
            weights=weights,
            quantization_aware=quantization_aware,
            equalize=equalize,
            lowering=lowering,
            rounding=rounding,
            ranges=ranges,
            merge_skips=merge_skips,
            representative_count=representative_count,
            size=size,
            extra_metadata=extra_metadata,
        )

    if rounding == "best" and calibration is not None:
        result = _closer_rounding(written, output_error(model, info, calibration))
    else:
        result = written(rounding)
    metadata = result.metadata
    if parity or accelerators:
        samples = parity_inputs(info, size, shapes, calibration)
    if parity:
        result.parity = measure_parity(model, result.flatbuffer, samples, info)
        metadata["parity"] = asdict(result.parity)
    if accelerators:
        result.accelerators = measure(result.flatbuffer, model=model, info=info, samples=samples)
        metadata["accelerators"] = result.accelerators.compact()
    result.flatbuffer = flatbuffer.with_metadata(
        result.flatbuffer, {flatbuffer.METADATA_NAME: json.dumps(metadata, default=_json).encode()}
    )
    return result


def _closer_rounding(written: Callable[[str], Conversion], error: Callable[[bytes], float]):
    """The GPTQ-rounded and the nearest-rounded file, whichever ``error`` finds closer to
    Keras; the metadata records both errors."""
    candidates = {rounding: written(rounding) for rounding in ("gptq", "nearest")}
    errors = {rounding: error(c.flatbuffer) for rounding, c in candidates.items()}
    kept = min(errors, key=errors.get)
    result = candidates[kept]
    result.metadata["rounding_errors"] = errors
    result.notes.append(
        f"kept {kept} rounding: output MSE vs Keras on the calibration samples "
        f"{errors[kept]:.3g} (the other {max(errors.values()):.3g})"
    )
    return result


def _written(
    model,
    info: ModelInfo,
    shapes,
    calibration,
    *,
    mode: str,
    float_io: bool,
    weights: str | None,
    quantization_aware: bool,
    equalize: bool,
    lowering: str,
    rounding: str,
    ranges: str,
    merge_skips: bool,
    representative_count: int,
    size,
    extra_metadata: dict[str, Any] | None,
) -> Conversion:
    """The file of ``model`` made the way :func:`convert_model`'s options say, with its
    metadata (not yet embedded) and notes; no parity."""
    source, equalized, notes = model, {}, []
    if equalize:
        source, equalized, note = _equalized(model, info, size, calibration, representative_count)
        notes.append(note)
    if mode == "int8" and lowering != "none" and not quantization_aware:
        from convert.lowering import split_prelus  # Keras, as for every conversion

        source, split, folded = split_prelus(source)
        if split:
            notes.append(f"split {split} PRELU into ReLU convolutions ({folded} read by the next)")
    gptq = rounding in ("gptq", "best") and calibration is not None
    # Balancing leans on GPTQ to absorb the smaller weights it gives each pair's consumer;
    # a file that keeps TRANSPOSE_CONV (not rounded by GPTQ) is not balanced.
    if gptq and not equalize and lowering != "none":
        source, balanced = _balanced(source, calibration)
        equalized = {"balanced_pairs": balanced}
        if balanced:
            notes.append(f"balanced the activation ranges of {balanced} layer pair(s)")
    merged = 0
    if merge_skips and calibration is not None and lowering != "none":
        from convert.skips import merge_sums  # Keras, as for every conversion

        source, merged = merge_sums(source, calibration)
        if merged:
            notes.append(f"merged {merged} skip(s) into the transposed convolution beside them")
    source, lowered = _lowered(source, lowering, quantization_aware, notes, mode)
    rounded = 0
    if gptq:
        from convert.rounding import round_weights  # Keras, as for every conversion

        source, rounded = round_weights(source, calibration)
        if rounded:
            notes.append(f"rounded the weights of {rounded} layer(s) by GPTQ")
    if mode == "int8" and lowering != "none" and not quantization_aware:
        from convert.blocking import block_convolutions  # Keras, as for every conversion

        source, blocked = block_convolutions(source, shapes)
        if blocked:
            notes.append(f"computed {blocked} convolution(s) on 2x2 blocks of their input")
    weights_mode = mode
    if mode == "float16" and _has_switches(model):
        weights_mode = "float32"
        notes.append(SWITCH_NOTE)
    data = convert_graph(source, info, shapes, weights_mode, calibration, float_io)
    tree = flatbuffer.unpack(data)
    unfused = flatbuffer.unfuse_transpose_conv_activations(tree)
    pixel_output = mode == "int8" and info.output.value_range == (0.0, 1.0)
    pixel_output = pixel_output and flatbuffer.pin_pixel_output(tree)
    pixel_inputs = [
        spec.name
        for position, spec in enumerate(info.inputs)
        if mode == "int8" and pin_input_levels(tree, position, spec)
    ]
    input_names = [spec.name for spec in info.inputs]
    flatbuffer.name_signature(tree, SIGNATURE_KEY, input_names, [info.output.name])
    data = flatbuffer.pack(tree, len(data))
    narrowed = []
    if ranges == "tuned" and mode == "int8" and calibration is not None:
        data, narrowed = narrow_ranges(data, output_error(model, info, calibration))
        if narrowed:
            notes.append(f"narrowed the int8 range of {len(narrowed)} activation(s)")
    parsed = flatbuffer.check_deployable(data)
    if unfused:
        notes.append(f"un-fused {unfused} TRANSPOSE_CONV activation(s)")
    # weights_sha256 names the caller's weights, which the file was made from.
    metadata = {
        **_metadata(model, info, mode, parsed, weights),
        **equalized,
        "lowering": lowering,
        "lowered": lowered,
        "merged_skips": merged,
        # float files round nothing; an uncalibrated (dynamic, QAT) file the converter's way
        "rounding": "gptq" if gptq else None if mode in FLOAT_MODES else "nearest",
        "rounded_layers": rounded,
        "pixel_output": pixel_output,
        "pixel_inputs": pixel_inputs,
        "narrowed_ranges": {n.tensor: n.factor for n in narrowed},
        **({"weights_dtype": "float32", "note": SWITCH_NOTE} if weights_mode != mode else {}),
        **({"gpu_float32": True} if info.gpu_float32 else {}),
        **(extra_metadata or {}),
    }
    return Conversion(flatbuffer=data, mode=mode, metadata=metadata, notes=notes)


def _balanced(model, calibration) -> tuple[keras.Model, int]:
    """``equalize(target="activations")`` for a file whose weights GPTQ rounds, and how
    many pairs it balanced."""
    from convert.equalize import balanceable_pairs, equalize

    count = len(balanceable_pairs(model))
    if not count:
        return model, 0
    return equalize(model, calibration, target="activations"), count


def _equalized(model, info: ModelInfo, size, calibration, count: int):
    """The equalized copy, its metadata entries and a note. Activation ranges come from the
    calibration samples, else the model's own data, else (data-free) its weights."""
    from convert.equalize import equalize, find_pairs

    pairs = find_pairs(model)
    metadata = {"equalized": bool(pairs), "equalized_pairs": [str(pair) for pair in pairs]}
    if not pairs:
        return model, metadata, "equalize: no equalizable layer pair; converted unchanged"
    samples, source = calibration, "calibration samples"
    if samples is None and info.dataset and info.recipe is not None:
        samples, source = representative_inputs(info, size=size, count=count), "model's data"
    if samples is None:
        source = "weights (data-free)"
    note = f"equalized {len(pairs)} layer pair(s) (cross-layer equalization, ranges: {source})"
    return equalize(model, samples), metadata, note


def _has_switches(model) -> bool:
    """Whether ``model`` unpools with max switches (:class:`zoo.layers.MaxUnpool2D`). Soft
    ones too: a share falls by 1/width per unit below the maximum, so they pass float16's
    weight error on 20-fold at width 0.05 (DeconvNet's file at 128x128: 1.96% of the range)."""
    from zoo.layers import MaxUnpool2D, all_layers  # Keras, loaded once a model is converted

    return any(isinstance(layer, MaxUnpool2D) for layer in all_layers(model))


def _lowered(model, lowering: str, quantization_aware: bool, notes: list[str], mode: str):
    """The model the converter reads under ``lowering``, and how many transposed
    convolutions were lowered. ``cpu`` in float modes gives each output phase its own
    convolution where that saves work. Nearest upsampling takes the target's form:
    CONCATENATION + DEPTH_TO_SPACE, or RESIZE_NEAREST_NEIGHBOR with ``none`` (the Edge TPU
    compiler maps no DEPTH_TO_SPACE)."""
    if quantization_aware:  # a tfmot (tf_keras) graph: its fake quantization stays as trained
        if lowering != "none":
            notes.append("quantization-aware model: TRANSPOSE_CONV kept (not lowered)")
        return model, 0
    # Keras, as for every conversion
    from convert.lowering import lower_transpose_convs, with_nearest_op

    nearest_op = "resize" if lowering == "none" else "depth_to_space"
    model, changed = with_nearest_op(model, nearest_op)
    if changed:
        form = "RESIZE_NEAREST_NEIGHBOR" if lowering == "none" else "CONCATENATION + DEPTH_TO_SPACE"
        notes.append(f"wrote {changed} nearest upsampling layer(s) as {form}")
    if lowering == "none":
        return model, 0
    per_phase = lowering == "cpu" and mode in FLOAT_MODES
    lowered, count, reasons = lower_transpose_convs(model, per_phase=per_phase)
    if count:
        notes.append(f"lowered {count} TRANSPOSE_CONV to CONV_2D + DEPTH_TO_SPACE")
    notes += reasons
    return lowered, count


def _resolve(model, info: ModelInfo | None, weights: str | None):
    from zoo import factory, models

    if isinstance(model, str):
        name = model
        model = factory.get(name, weights=weights)
        return model, info or models.info(name)
    if info is None:
        try:
            info = models.info(model.name)
        except ZooError:
            info = info_from_model(model)
    return model, info


def info_from_model(model) -> ModelInfo:
    """Specs for a model outside the registry: names and shapes from its inputs, range unknown."""
    from zoo.registry import Recipe

    def spec(tensor, name: str) -> TensorSpec:
        return TensorSpec(name=name, shape=tuple(tensor.shape[1:]), bounded=False)

    inputs = tuple(
        spec(t, getattr(t, "name", f"input_{i}").split(":")[0]) for i, t in enumerate(model.inputs)
    )
    return ModelInfo(
        name=model.name,
        family="",
        task="",
        inputs=inputs,
        output=spec(model.outputs[0], "output"),
        num_params=model.count_params(),
        paper="",
        dataset="",
        recipe=Recipe(epochs=0, batch_size=0, learning_rate=0.0, loss=""),
    )


def input_shapes(info: ModelInfo, size: tuple[int, int] | None) -> list[tuple[int, ...]]:
    """Each input's shape without batch, free sizes filled from ``size`` or the export size."""
    from zoo.smoke import concrete_shape

    if size is not None:
        if len(size) != 2 or min(size) < 1:
            raise ZooError(f"size must be (height, width) with positive sides, got {size}")
        if not any(len(spec.shape) == 3 for spec in info.inputs):
            raise ZooError(f"{info.name} takes no image input; a size does not apply to it")
        if all(None not in spec.shape for spec in info.inputs):
            fixed = [s.shape[:2] for s in info.inputs if len(s.shape) == 3]
            if fixed and tuple(fixed[0]) != tuple(size):
                raise ZooError(f"{info.name} takes a fixed size {fixed[0]}; size {size} differs")
    return [concrete_shape(spec, info, size) for spec in info.inputs]


# === Metadata ===


def _metadata(model, info: ModelInfo, mode: str, parsed, weights: str | None) -> dict[str, Any]:
    import tensorflow as tf

    import zoo

    def tensor_entry(spec: TensorSpec, tensor: flatbuffer.Tensor, scale) -> dict[str, Any]:
        entry = {
            "name": spec.name,
            "shape": list(tensor.shape),
            "dtype": tensor.dtype,
            "value_range": list(spec.value_range),
        }
        if scale is not None:
            entry["quantization"] = {"scale": scale[0], "zero_point": scale[1]}
        return entry

    quant = _io_quantization(parsed)
    return {
        "name": info.name,
        "family": info.family,
        "task": info.task,
        "mode": mode,
        "zoo_version": zoo.__version__,
        "tensorflow_version": tf.__version__,
        "weights": weights or "initial (untrained)",
        "weights_sha256": weights_digest(model),
        "num_params": int(model.count_params()),
        "inputs": [
            tensor_entry(spec, tensor, quant.get(("in", i)))
            for i, (spec, tensor) in enumerate(zip(info.inputs, parsed.input_tensors, strict=True))
        ],
        "outputs": [tensor_entry(info.output, parsed.output_tensors[0], quant.get(("out", 0)))],
        "ops": parsed.op_versions,
    }


def _io_quantization(parsed: flatbuffer.TFLiteFile) -> dict[tuple[str, int], tuple[float, int]]:
    """(scale, zero point) of each integer input and output tensor."""
    found = {}
    for kind, tensors in (("in", parsed.input_tensors), ("out", parsed.output_tensors)):
        for i, tensor in enumerate(tensors):
            if tensor.dtype in ("int8", "int16", "uint8") and tensor.quantization:
                found[(kind, i)] = tensor.quantization
    return found
