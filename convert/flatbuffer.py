"""Reading a .tflite flatbuffer without running it, and writing the zoo's metadata into it.

Parsing uses the schema module that ships with ai-edge-litert (``schema_py_generated``), so
``zoo check`` needs neither TensorFlow nor an interpreter. :func:`read` returns a
:class:`TFLiteFile`: every operator with its name, version, options and tensors, every tensor
with its type, static shape and shape signature (``-1`` marks a dynamic dimension), the
signatures, and the metadata entries.

Metadata follows the schema's own mechanism: a ``Metadata{name, buffer}`` entry pointing at a
buffer of bytes. The zoo stores its model card summary as UTF-8 JSON under :data:`METADATA_NAME`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

METADATA_NAME = "deconv_zoo"  # the Metadata entry holding the zoo's JSON
SIGNATURE_KEY = "serving_default"  # the one signature of every zoo file
TRANSPOSE_CONV_GPU_MAX_VERSION = 3  # LiteRT gpu_compatibility.cc: TRANSPOSE_CONV versions 1-3
_ACTIVATION_OPS = {"RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1", "TANH": "TANH"}
FLEX_PREFIX = "Flex"  # custom code of TensorFlow ops run by the Flex delegate (SELECT_TF_OPS)


class TFLiteFileError(ZooError):
    """The bytes are not a readable TFLite flatbuffer."""


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _enum_names(enum_class: type) -> dict[int, str]:
    return {value: key for key, value in vars(enum_class).items() if not key.startswith("_")}


# === What a file holds ===


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph: ``shape`` is static; ``signature`` has -1 where it is dynamic."""

    index: int
    name: str
    dtype: str  # "float32", "int8", ...
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    constant: bool
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()

    @property
    def quantized(self) -> bool:
        return bool(self.scales)

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def quantization(self) -> tuple[float, int] | None:
        """(scale, zero point) of a per-tensor quantized tensor, else None."""
        if len(self.scales) != 1:
            return None
        return self.scales[0], self.zero_points[0] if self.zero_points else 0

    @property
    def dynamic(self) -> bool:
        return any(dim < 0 for dim in self.signature)


@dataclass(frozen=True)
class Operator:
    """One operator: builtin name (or custom code), version, options and tensor indices."""

    index: int
    subgraph: int
    name: str
    version: int
    custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def flex(self) -> bool:
        return self.custom and self.name.startswith(FLEX_PREFIX)

    @property
    def fused_activation(self) -> str:
        """ "NONE", "RELU", "RELU6", ... for ops that can fuse an activation, else "NONE"."""
        return self.options.get("fusedActivationFunction", "NONE")


@dataclass(frozen=True)
class Signature:
    key: str
    inputs: dict[str, int]  # name -> tensor index
    outputs: dict[str, int]


@dataclass(frozen=True)
class TFLiteFile:
    """A parsed flatbuffer. ``tensors[s]`` are the tensors of subgraph ``s``."""

    size: int
    operators: tuple[Operator, ...]
    tensors: tuple[tuple[Tensor, ...], ...]
    inputs: tuple[int, ...]  # of subgraph 0
    outputs: tuple[int, ...]
    signatures: tuple[Signature, ...]
    metadata: dict[str, bytes]

    def tensor(self, index: int, subgraph: int = 0) -> Tensor:
        return self.tensors[subgraph][index]

    def operator_inputs(self, op: Operator) -> list[Tensor]:
        """The operator's input tensors (optional inputs marked -1 left out)."""
        return [self.tensors[op.subgraph][i] for i in op.inputs if i >= 0]

    def operator_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[op.subgraph][i] for i in op.outputs if i >= 0]

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[0][i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[0][i] for i in self.outputs]

    @property
    def op_versions(self) -> dict[str, int]:
        """Highest version of each operator name in the file."""
        versions: dict[str, int] = {}
        for op in self.operators:
            versions[op.name] = max(versions.get(op.name, 0), op.version)
        return versions

    @property
    def zoo_metadata(self) -> dict[str, Any] | None:
        """The zoo's JSON metadata, or None for a file the zoo did not write."""
        payload = self.metadata.get(METADATA_NAME)
        if payload is None:
            return None
        try:
            return json.loads(payload.decode())
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError alike
            raise TFLiteFileError(
                f"the file's {METADATA_NAME} metadata is corrupt ({type(error).__name__})"
            ) from None


# === Reading ===


def load_bytes(source: str | Path | bytes) -> bytes:
    """The bytes of a .tflite path (or the bytes themselves); a missing file is a ZooError."""
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise ZooError(f"no such file: {path}")
    return path.read_bytes()


def read(source: str | Path | bytes) -> TFLiteFile:
    """Parse a .tflite file or its bytes; anything unreadable raises :class:`TFLiteFileError`."""
    data = load_bytes(source)
    label = f"{source}" if isinstance(source, str | Path) else "the buffer"
    schema = _schema()
    if len(data) < 8 or not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise TFLiteFileError(f"{label} is not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        parsed = _summarise(model, len(data))
    except Exception as error:  # flatbuffers raises whatever a bad offset leads to
        raise TFLiteFileError(f"{label} is corrupt or truncated ({type(error).__name__})") from None
    _check_references(parsed, label)
    return parsed


def _check_references(parsed: TFLiteFile, label: str) -> None:
    """Every tensor index an operator, the graph or a signature names exists (a flipped bit
    in an index would otherwise surface later as an IndexError)."""
    counts = [len(graph) for graph in parsed.tensors]
    named = [
        (op.subgraph, i, f"operator {op.index} ({op.name})")
        for op in parsed.operators
        for i in (*op.inputs, *op.outputs)
    ]
    named += [(0, i, "the graph's inputs and outputs") for i in (*parsed.inputs, *parsed.outputs)]
    named += [
        (0, i, f"signature {sig.key!r}")
        for sig in parsed.signatures
        for i in (*sig.inputs.values(), *sig.outputs.values())
    ]
    for subgraph, index, where in named:
        count = counts[subgraph] if subgraph < len(counts) else 0
        if not -1 <= index < count or (index == -1 and not where.startswith("operator")):
            raise TFLiteFileError(f"{label} is corrupt: {where} names tensor {index} of {count}")


def _summarise(model, size: int) -> TFLiteFile:
    schema = _schema()
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = {k: v.lower() for k, v in _enum_names(schema.TensorType).items()}
    activation_names = _enum_names(schema.ActivationFunctionType)
    padding_names = _enum_names(schema.Padding)
    buffers = model.buffers or []

    codes = []
    for code in model.operatorCodes or []:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        custom = builtin == schema.BuiltinOperator.CUSTOM
        name = (code.customCode or b"").decode() if custom else op_names.get(builtin, str(builtin))
        codes.append((name if isinstance(name, str) else name.decode(), code.version, custom))

    tensors, operators = [], []
    for s, graph in enumerate(model.subgraphs or []):
        graph_tensors = []
        for t, tensor in enumerate(graph.tensors or []):
            quant = tensor.quantization
            has_scales = quant is not None and quant.scale is not None
            scales = tuple(map(float, quant.scale)) if has_scales else ()
            zeros = (
                tuple(map(int, quant.zeroPoint))
                if has_scales and quant.zeroPoint is not None
                else ()
            )
            buffer = buffers[tensor.buffer] if 0 < tensor.buffer < len(buffers) else None
            constant = buffer is not None and (
                (buffer.data is not None and len(buffer.data) > 0) or buffer.offset > 1
            )
            shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
            signature = tensor.shapeSignature
            graph_tensors.append(
                Tensor(
                    index=t,
                    name=_text(tensor.name),
                    dtype=type_names.get(tensor.type, str(tensor.type)),
                    shape=shape,
                    signature=tuple(int(d) for d in signature) if signature is not None else shape,
                    constant=constant,
                    scales=scales,
                    zero_points=zeros,
                )
            )
        tensors.append(tuple(graph_tensors))
        for o, op in enumerate(graph.operators or []):
            name, version, custom = codes[op.opcodeIndex]
            operators.append(
                Operator(
                    index=o,
                    subgraph=s,
                    name=name,
                    version=version,
                    custom=custom,
                    inputs=tuple(int(i) for i in (op.inputs if op.inputs is not None else ())),
                    outputs=tuple(int(i) for i in (op.outputs if op.outputs is not None else ())),
                    options=_options(op.builtinOptions, activation_names, padding_names),
                )
            )

    first = (model.subgraphs or [None])[0]
    signatures = tuple(
        Signature(
            key=_text(sig.signatureKey),
            inputs={_text(m.name): m.tensorIndex for m in sig.inputs or []},
            outputs={_text(m.name): m.tensorIndex for m in sig.outputs or []},
        )
        for sig in model.signatureDefs or []
    )
    metadata = {}
    for entry in model.metadata or []:
        buffer = buffers[entry.buffer] if entry.buffer < len(buffers) else None
        data = buffer.data if buffer is not None and buffer.data is not None else []
        metadata[_text(entry.name)] = bytes(bytearray(data))
    return TFLiteFile(
        size=size,
        operators=tuple(operators),
        tensors=tuple(tensors),
        inputs=tuple(int(i) for i in (first.inputs if first is not None else ())),
        outputs=tuple(int(i) for i in (first.outputs if first is not None else ())),
        signatures=signatures,
        metadata=metadata,
    )


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _options(options, activation_names: dict[int, str], padding_names: dict[int, str]) -> dict:
    """Builtin options as a plain dict, enums as names."""
    if options is None or not hasattr(options, "__dict__"):
        return {}
    values = {}
    for key, value in vars(options).items():
        if key == "fusedActivationFunction":
            value = activation_names.get(value, str(value))
        elif key == "padding":
            value = padding_names.get(value, str(value))
        elif hasattr(value, "tolist"):
            value = value.tolist()
        values[key] = value
    return values


# === Editing ===


def unpack(data: bytes):
    """The schema's mutable object tree (``ModelT``) of a flatbuffer."""
    return _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)


def pack(model, size_hint: int = 0) -> bytes:
    """Serialise a ``ModelT`` back to flatbuffer bytes with the TFL3 identifier."""
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def name_signature(model, key: str, inputs: list[str], outputs: list[str]) -> dict[str, int]:
    """Make subgraph 0's one signature ``key`` with the given input and output names.

    The converter names a signature's inputs after the function's arguments and its outputs
    ``output_0``...; on its frozen-graph path it writes no signature at all. Inputs are
    matched by tensor name (``serving_default_<name>:0`` or ``<name>``), or by order where
    the converter renamed them, outputs by order.
    Returns the inputs as name -> tensor index.
    """
    schema = _schema()
    graph = model.subgraphs[0]
    if len(graph.outputs) != len(outputs) or len(graph.inputs) != len(inputs):
        raise ValueError("signature names do not match the subgraph's inputs and outputs")
    by_name = {}
    for index in graph.inputs:
        text = _text(graph.tensors[index].name).split(":")[0]
        by_name[text.removeprefix("serving_default_")] = int(index)
    if sorted(by_name) != sorted(inputs):  # names lost (fused quantize ops): argument order
        by_name = {name: int(index) for name, index in zip(inputs, graph.inputs, strict=True)}

    def tensor_map(name: str, index: int):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, int(index)
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = key
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(name, by_name[name]) for name in inputs]
    signature.outputs = [
        tensor_map(name, index) for name, index in zip(outputs, graph.outputs, strict=True)
    ]
    model.signatureDefs = [signature]
    return {name: by_name[name] for name in inputs}


def set_metadata(model, entries: dict[str, bytes]) -> None:
    """Store each ``name -> bytes`` entry as flatbuffer metadata (replacing any of that name)."""
    schema = _schema()
    model.metadata = [m for m in model.metadata or [] if _text(m.name) not in entries]
    model.buffers = model.buffers or [schema.BufferT()]
    for name, payload in entries.items():
        buffer = schema.BufferT()
        buffer.data = list(payload)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)


def with_metadata(data: bytes, entries: dict[str, bytes]) -> bytes:
    """``data`` with ``entries`` stored as metadata."""
    model = unpack(data)
    set_metadata(model, entries)
    return pack(model, len(data) + sum(len(p) for p in entries.values()))


# === Mending the converter's output ===


def unfuse_transpose_conv_activations(model) -> int:
    """Move every activation fused into a TRANSPOSE_CONV into its own op; returns the count.

    ``model`` is the flatbuffer's object tree (:func:`unpack`), edited in
    place.

    The convolution writes a new intermediate tensor (same shape, type and quantization as
    the old output, so an int8 file clamps exactly as before); the activation op reads it and
    writes the original output. Where the output's quantized range already lies inside the
    activation's (int8 after ReLU: zero point -128), the kernel's clamp to that range *is*
    the activation, so the flag is dropped and no op is added. The shared TRANSPOSE_CONV
    operator code goes back to the version its inputs call for (3 with a bias, 2 with int8
    weights, else 1), per LiteRT's tensorflow/lite/tools/versioning/op_version.cc.
    """
    import copy

    schema = _schema()
    builtin = schema.BuiltinOperator
    activation = {v: k for k, v in vars(schema.ActivationFunctionType).items() if k.isupper()}

    def opcode_index(name: str) -> int:
        code = getattr(builtin, name)
        for i, existing in enumerate(model.operatorCodes):
            if max(existing.builtinCode, existing.deprecatedBuiltinCode) == code:
                return i
        new = schema.OperatorCodeT()
        new.builtinCode = code
        new.deprecatedBuiltinCode = min(code, 127)
        new.version = 1
        model.operatorCodes.append(new)
        return len(model.operatorCodes) - 1

    transpose_codes = {
        i
        for i, c in enumerate(model.operatorCodes)
        if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin.TRANSPOSE_CONV
    }
    if not transpose_codes:
        return 0
    count = 0
    for graph in model.subgraphs:
        operators = []
        for op in graph.operators:
            operators.append(op)
            options = op.builtinOptions
            fused = getattr(options, "fusedActivationFunction", 0)
            if op.opcodeIndex not in transpose_codes or not fused:
                continue
            name = activation[fused]
            if name not in _ACTIVATION_OPS:
                raise ZooError(f"cannot un-fuse activation {name} from TRANSPOSE_CONV")
            output = graph.tensors[op.outputs[0]]
            options.fusedActivationFunction = 0
            count += 1
            if _clamp_is_activation(output, name, schema):
                continue
            middle = copy.deepcopy(output)
            middle.name = (output.name or b"") + b"/pre_activation"
            graph.tensors.append(middle)
            act = schema.OperatorT()
            act.opcodeIndex = opcode_index(_ACTIVATION_OPS[name])
            act.inputs = [len(graph.tensors) - 1]
            act.outputs = [op.outputs[0]]
            op.outputs = [len(graph.tensors) - 1]
            operators.append(act)
            _set_version(model, act, graph, schema)
        graph.operators = operators
    if not count:
        return 0
    for index in transpose_codes:
        model.operatorCodes[index].version = max(
            _transpose_conv_version(op, graph, schema)
            for graph in model.subgraphs
            for op in graph.operators
            if op.opcodeIndex == index
        )
    return count


PIXEL_STEP = 1 / 255  # an 8-bit image's levels in [0, 1]
# Ops whose int8 output scale is free (the kernel derives its multiplier from the tensors'
# scales when it is prepared) and ops whose output must keep their input's quantization.
_FREE_OUTPUT_SCALE = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "ADD")
_SAME_SCALE = ("DEPTH_TO_SPACE", "RESHAPE")


def op_name(model, op) -> str:
    """The builtin name (``"CONV_2D"``...) of ``op`` in ``model`` (:func:`unpack`'s tree);
    ``""`` for a custom op."""
    code = model.operatorCodes[op.opcodeIndex]
    names = _enum_names(_schema().BuiltinOperator)
    return names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")


def pin_pixel_output(model) -> bool:
    """Give an int8 output that spans an image's [0, 1] the 8-bit image grid: scale 1/255,
    zero point -128. Returns whether it did; ``model`` (:func:`unpack`) is edited in place.

    Calibration leaves the output a scale of its observed range (0.0040 for FSRCNN x2's
    [0, 1.02]), so every output is rounded once more and off the levels an 8-bit image
    holds; on the image grid the file's rounding is the one saving the image does anyway
    (FSRCNN x2 int8 on Set5: 0.05 dB less cost). The range also clamps to [0, 1], where the
    output's values belong. Only where the calibrated range already spans the image range
    and little more (from [-0.25, 0.1] to [0.9, 1.25]: an untrained model's narrow output
    keeps its finer scale, a wider one its range), and only where the output comes from an
    op whose output scale is free, through ops that keep it (DEPTH_TO_SPACE, RESHAPE) and
    nothing else reads.
    """
    schema = _schema()
    graph = model.subgraphs[0]
    if len(graph.outputs) != 1:
        return False
    output = graph.tensors[graph.outputs[0]]
    quant = output.quantization
    if output.type != schema.TensorType.INT8 or quant is None or quant.scale is None:
        return False
    if len(quant.scale) != 1:
        return False
    scale, zero_point = float(quant.scale[0]), int(quant.zeroPoint[0])
    low, high = (-128 - zero_point) * scale, (127 - zero_point) * scale
    if not (-0.25 <= low <= 0.1 and 0.9 <= high <= 1.25):
        return False
    producers = {t: op for op in graph.operators for t in op.outputs}
    readers: dict[int, int] = {}
    for op in graph.operators:
        for t in op.inputs:
            readers[t] = readers.get(t, 0) + 1
    chain, tensor = [], graph.outputs[0]
    while True:
        chain.append(tensor)
        op = producers.get(tensor)
        if op is None:
            return False
        name = op_name(model, op)
        if name in _FREE_OUTPUT_SCALE:
            break
        if name not in _SAME_SCALE or readers.get(op.inputs[0], 0) != 1:
            return False
        tensor = op.inputs[0]
    for index in chain:
        graph.tensors[index].quantization.scale = [PIXEL_STEP]
        graph.tensors[index].quantization.zeroPoint = [-128]
    return True


_ACTIVATION_BOUNDS = {"RELU": (0.0, math.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def _clamp_is_activation(tensor, activation: str, schema) -> bool:
    """Whether an integer tensor's representable range lies within the activation's bounds."""
    limits = {schema.TensorType.INT8: (-128, 127), schema.TensorType.INT16: (-32768, 32767)}
    quant = tensor.quantization
    if activation not in _ACTIVATION_BOUNDS or tensor.type not in limits or quant is None:
        return False
    if quant.scale is None or len(quant.scale) != 1:
        return False
    scale, zero_point = float(quant.scale[0]), int(quant.zeroPoint[0])
    qmin, qmax = limits[tensor.type]
    low, high = _ACTIVATION_BOUNDS[activation]
    step = scale / 2  # representable values are exact multiples of the scale
    return (qmin - zero_point) * scale >= low - step and (qmax - zero_point) * scale <= high + step


def _transpose_conv_version(op, graph, schema) -> int:
    inputs = list(op.inputs)
    if len(inputs) == 4 and inputs[3] >= 0:
        return 3
    return 2 if graph.tensors[inputs[1]].type == schema.TensorType.INT8 else 1


def _set_version(model, op, graph, schema) -> None:
    """Activation ops: version 2 for int8 input, 3 for int16 (op_version.cc), else 1."""
    dtype = graph.tensors[op.inputs[0]].type
    version = {schema.TensorType.INT8: 2, schema.TensorType.INT16: 3}.get(dtype, 1)
    code = model.operatorCodes[op.opcodeIndex]
    code.version = max(code.version, version)


def check_deployable(data: bytes) -> TFLiteFile:
    """Parse ``data`` and prove the rules every zoo file keeps; a violation is an error.

    Batch 1 and static shapes everywhere, builtin ops only, and TRANSPOSE_CONV at a
    version the GPU delegates take.
    """
    parsed = read(data)
    problems = []
    custom = sorted({op.name for op in parsed.operators if op.custom})
    if custom:
        problems.append(f"non-builtin ops {', '.join(custom)}")
    dynamic = [t.name for graph in parsed.tensors for t in graph if t.dynamic]
    if dynamic:
        problems.append(f"dynamic tensors {', '.join(dynamic[:3])}")
    batches = {t.shape[0] for t in (*parsed.input_tensors, *parsed.output_tensors) if t.shape}
    if batches != {1}:
        problems.append(f"batch {sorted(batches)} instead of 1")
    version = parsed.op_versions.get("TRANSPOSE_CONV", 0)
    if version > TRANSPOSE_CONV_GPU_MAX_VERSION:
        problems.append(f"TRANSPOSE_CONV version {version}")
    if problems:
        raise ZooError(f"the converted file breaks the delegate rules: {'; '.join(problems)}")
    return parsed
