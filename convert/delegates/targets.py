"""The targets: names, titles, the rule sources, partition limits and ``--strict`` coverage."""

from __future__ import annotations

LITERT = "LiteRT v2.2.0"
TARGETS = ("gpu", "xnnpack", "nnapi", "hexagon", "qnn", "edgetpu")
TITLES = {
    "gpu": "classic GPU delegate (GpuDelegateV2, Interpreter API: OpenCL / OpenGL ES / Metal)",
    "xnnpack": "XNNPACK (LiteRT CPU accelerator)",
    "nnapi": "NNAPI (Android NPU/DSP/GPU drivers)",
    "hexagon": "Qualcomm Hexagon delegate",
    "qnn": "Qualcomm QNN (AI Engine Direct)",
    "edgetpu": "Coral Edge TPU",
}
RULES = {
    "gpu": "tflite/tools/versioning/gpu_compatibility.cc + tflite/delegates/gpu/common/"
    f"model_builder.cc ({LITERT})",
    "xnnpack": "ai_edge_litert CompiledModel.is_fully_accelerated (CPU); op list of "
    f"tflite/delegates/xnnpack/xnnpack_delegate.cc ({LITERT})",
    "nnapi": f"tflite/delegates/nnapi/nnapi_delegate.cc Validate, feature level 30 ({LITERT})",
    "hexagon": f"tflite/delegates/hexagon/utils.cc IsNodeSupportedByHexagon ({LITERT})",
    "qnn": f"litert/vendors/qualcomm/compiler/Qualcomm_QNN_Compiler.md ({LITERT})",
    "edgetpu": "coral.ai/docs/edgetpu/models-intro supported operations (compiler 16)",
}
# Delegated partitions a delegate keeps by default (None: all) and their minimum size.
MAX_PARTITIONS = {"gpu": 1, "xnnpack": None, "nnapi": 3, "hexagon": 4, "qnn": None, "edgetpu": 1}
MIN_PARTITION_NODES = {"hexagon": 2}
# Targets that refuse a graph with dynamic-sized tensors / need static shapes to compile.
STATIC_ONLY = ("gpu", "nnapi", "hexagon", "qnn", "edgetpu")
COMPILED = ("qnn", "edgetpu")
STRICT_TARGETS = {
    "float32": ("gpu", "xnnpack"),
    "float16": ("gpu", "xnnpack"),
    "dynamic": ("gpu", "xnnpack"),
    "int8": ("xnnpack", "nnapi", "hexagon", "qnn", "edgetpu"),
    "int16x8": ("qnn",),
}
