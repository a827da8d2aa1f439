"""TensorFlow's TFLite converter as the zoo runs it: the traced graph, the mode's settings, the
calibration feed, and its errors cut down to one line."""

from __future__ import annotations

import re

from zoo.errors import ZooError
from zoo.registry import ModelInfo

INTEGER_MODES = ("int8", "int16x8")


def convert_graph(model, info: ModelInfo, input_shapes, mode: str, calibration, float_io: bool):
    """The flatbuffer TensorFlow's converter writes for ``model`` (:func:`converter_for`), as
    bytes; a graph that does not trace or convert raises a one-line :class:`ZooError`."""
    import tensorflow as tf

    try:
        converter = converter_for(model, info, input_shapes, mode, calibration, float_io=float_io)
    except (ValueError, TypeError) as error:  # the graph does not trace at these shapes
        shapes = ", ".join("x".join(map(str, shape)) for shape in input_shapes)
        raise ZooError(
            f"{info.name} cannot run on inputs of {shapes}: {_trace_reason(error)}"
            " (a size every down- and up-sampling stage divides may work)"
        ) from None
    try:
        try:
            return bytes(converter.convert())
        except Exception:
            if mode != "int16x8":
                raise
            # With a float fallback op (DEPTH_TO_SPACE has no int16 kernel) the 16x8
            # quantizer trips over its own int64 biases; int32 biases convert.
            converter._experimental_full_integer_quantization_bias_type = tf.int32
            return bytes(converter.convert())
    except Exception as error:  # the converter raises ConverterError, RuntimeError, ...
        reason = _converter_reason(error)
        raise ZooError(f"{info.name} cannot convert to {mode}: {reason}") from None


def converter_for(
    model, info: ModelInfo, input_shapes, mode: str, calibration, *, float_io: bool = False
):
    """The ``tf.lite.TFLiteConverter`` the zoo converts ``model`` with, not yet run: its
    ``serving_default`` function at batch 1 and ``input_shapes``, weights frozen, ``mode``'s
    settings, calibrated on ``calibration`` (a list of input lists) where given."""
    import tensorflow as tf

    specs = [
        tf.TensorSpec((1, *shape), tf.float32, name=spec.name)
        for spec, shape in zip(info.inputs, input_shapes, strict=True)
    ]
    output_name = info.output.name

    @tf.function(input_signature=specs)
    def serve(*inputs):
        feed = inputs[0] if len(inputs) == 1 else list(inputs)
        return {output_name: model(feed, training=False)}

    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # Weights become constants before conversion, so the converter folds BatchNormalization
    # into the preceding convolution and no variable ops reach the file.
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if calibration is not None:
        converter.representative_dataset = lambda: _calibration_feed(info, calibration)
    if mode in INTEGER_MODES:
        if mode == "int8":
            if calibration is not None:  # a QAT model carries its ranges; builtins suffice
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if not float_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        else:
            # Ops without an int16 kernel (PRELU, ...) stay float between QUANTIZE and
            # DEQUANTIZE, as the converter's 16x8 guide allows; the report lists them.
            ops_set = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            converter.target_spec.supported_ops = [ops_set, tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def _calibration_feed(info: ModelInfo, calibration):
    """The calibration samples as the converter reads them: with several inputs, keyed by
    the signature's input names (a list would meet the file's inputs in the converter's
    order, which need not be the model's); with one, as lists (some graphs convert without
    a signature, and a keyed sample needs one)."""
    names = [spec.name for spec in info.inputs]
    for sample in calibration:
        yield dict(zip(names, sample, strict=True)) if len(names) > 1 else list(sample)


def _trace_reason(error: BaseException) -> str:
    """The layer and the message of an error raised while tracing the model, on one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"calling (\w+)\.call\(\)\.\s*\n\s*\n?\s*(.+)", text)
    if found:
        layer, message = found.group(1), found.group(2)
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "File " not in ln]
        layer, message = None, lines[-1] if lines else type(error).__name__
    message = message.split(" for '{{node", 1)[0].strip()
    return (f"{layer}: {message}" if layer else message)[:300]


def _converter_reason(error: BaseException) -> str:
    """The first informative line of a converter error, naming the op where it can."""
    text = str(error)
    op = re.search(r"'(tf|tfl)\.([A-Za-z0-9_]+)'", text)
    lines = [line.strip() for line in text.splitlines() if "error:" in line]
    reason = lines[0].split("error:", 1)[1].strip() if lines else text.strip().splitlines()[0]
    if op and op.group(2) not in reason:
        reason = f"op {op.group(2)}: {reason}"
    return reason[:300]
