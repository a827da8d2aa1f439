"""TFLite (LiteRT) conversion for phone GPU and NPU delegates.

Public surface::

    import convert
    data = convert.to_tflite("fsrcnn_x3", mode="int8")      # bytes of a deployable file
    result = convert.convert_model(model, mode="float16")   # bytes, metadata and parity
    report = convert.check(data)                            # what each delegate takes
    measured = convert.measure_file(data)                   # run on LiteRT's CPU/GPU here
    data = convert.to_tflite(model, mode="int8", equalize=True)  # cross-layer equalized
    copy = convert.equalize(model, samples)                 # the equalized Keras model

Importing ``convert`` is light; TensorFlow loads when a model is converted, and
``convert.check`` never loads it.
"""

from convert.delegates import check
from convert.equalize import equalize
from convert.runtime import measure, measure_file
from convert.tflite import MODES, Conversion, Parity, convert_model, to_tflite

__all__ = [
    "MODES",
    "Conversion",
    "Parity",
    "check",
    "convert_model",
    "equalize",
    "measure",
    "measure_file",
    "to_tflite",
]
