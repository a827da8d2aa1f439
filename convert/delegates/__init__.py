"""Which phone delegates take a .tflite file whole, read from the flatbuffer (no interpreter).

``tf.lite.experimental.Analyzer(gpu_compatibility=True)`` always answers "compatible", so the
zoo checks files against the delegates' own rules, re-expressed here from their sources:

- ``gpu``: the GPU delegate (OpenCL, OpenGL ES and Metal share one op parser).
  ``tflite/tools/versioning/gpu_compatibility.cc`` (per-op checks) and
  ``tflite/delegates/gpu/common/model_builder.cc`` (``CheckMaxSupportedOpVersion`` per parser,
  the runtime tensor types of ``GetOpsToReplace``), with the float16-weights handling of
  ``FP16GraphPartitionHelper`` in ``tflite/delegates/utils.cc``. Defaults of
  ``TfLiteGpuDelegateOptionsV2Default``: quantized models allowed, one delegated partition.
- ``xnnpack``: LiteRT's CPU accelerator, measured with
  ``CompiledModel.from_buffer(..).is_fully_accelerated()`` (the verdict); a static op-level view
  names the ops, from ``tflite/delegates/xnnpack/xnnpack_delegate.cc``: the ops ``VisitNode``
  takes and the ones whose ``Visit*Node`` accepts float only (standalone RELU/RELU6, MINIMUM,
  MAXIMUM, PRELU, SOFTMAX, AVERAGE_POOL_2D, ...: no int8 kernel).
- ``nnapi``: ``NNAPIDelegateKernel::Validate`` in ``tflite/delegates/nnapi/nnapi_delegate.cc``,
  evaluated for NNAPI feature level 30 (Android 11) with no accelerator named; at most 3
  partitions (``max_number_delegated_partitions``).
- ``hexagon``: ``IsNodeSupportedByHexagon`` and ``CheckOpVersion`` in
  ``tflite/delegates/hexagon/utils.cc``; at most 4 graphs of at least 2 nodes
  (``hexagon_delegate.cc``).
- ``qnn``: the ops the Qualcomm AI Engine Direct compiler plugin legalizes
  (``litert/vendors/qualcomm/compiler/Qualcomm_QNN_Compiler.md``); op level only.
- ``edgetpu``: the supported-operations table of coral.ai "TensorFlow models on the Edge TPU"
  (Edge TPU compiler 16): 8-bit tensors only, static shapes, at most 3 non-unit dimensions,
  and one mapped segment: the first op it cannot map and every op after it run on the CPU.

All LiteRT files were read at google-ai-edge/LiteRT tag v2.2.0 (where ``tensorflow/lite`` now
lives; its GPU and NNAPI files are unchanged on the main branch; the installed runtime
is ai-edge-litert 2.3.0). The tensorflow/tensorflow copies of ``gpu_compatibility.cc`` and
``hexagon/utils.cc`` were compared: the TF copy of the Hexagon rules caps TRANSPOSE_CONV at
version 2 (three inputs only), LiteRT v2.2.0 at version 3 (bias allowed).

Whole-graph rule (``tflite/core/subgraph.cc``, ``ModifyGraphWithDelegate``): a delegate without
``kTfLiteDelegateFlagsAllowDynamicTensors`` (GPU; NNAPI and Hexagon by default) is refused
outright when the graph has a dynamic-sized tensor: an op whose output size comes from a tensor
computed at run time (TRANSPOSE_CONV with a computed ``output_shape``, RESHAPE, RESIZE_* or PAD
with computed sizes; a dynamic batch makes the converter emit SHAPE/STRIDED_SLICE/PACK for
exactly that). The Edge TPU and QNN compilers also need every shape static.

Partitions are counted as TFLite's ``PartitionGraphIntoIndependentNodeSubsets`` forms them
(``tflite/graph_info.cc``, greedy, the default): epochs over the execution order, each epoch
taking every op whose inputs are ready and whose kind (delegated or not) matches the epoch's
first ready op; the delegated epochs are the partitions. A delegate then keeps only its N
largest partitions (GPU 1, NNAPI 3, Hexagon 4 of 2+ nodes), and the ops of the others fall
back too. Float16 weights dequantized from constants (DEQUANTIZE v3) belong to the delegate
when everything else does, and otherwise stay on the CPU, as ``FP16GraphPartitionHelper`` does.

A file is *fully integer* when no op between its inputs and outputs computes in float: the only
float tensors allowed are float graph inputs feeding a QUANTIZE and float graph outputs written
by a DEQUANTIZE (the float-I/O conversions, which run on the CPU and do not split the graph).

``--strict`` covers the targets a file is meant for, from its precision: float32, float16 and
dynamic-range files: gpu and xnnpack; int8: xnnpack, nnapi, hexagon, qnn, edgetpu; int16x8: qnn
(no other delegate has int16 kernels). ``targets=`` overrides the choice.

The package, each module importing only those listed before it:

- ``targets``: target names, titles, rule sources, partition limits, ``STRICT_TARGETS``.
- ``graph``: :class:`Node`, :class:`Graph` (subgraph 0 as the rules see it), ``runtime_sized``,
  the op-name sets and the helpers the rules share.
- ``gpu``, ``xnnpack``, ``nnapi``, ``hexagon``, ``qnn``, ``edgetpu``: one delegate each, its
  constants and its ``*_rule(node, graph)`` (why the op falls back, or None).
- ``partitions``: the greedy partitioner, the partitions a delegate keeps, the Edge TPU segment.
- ``report``: :class:`Fallback`, :class:`TargetReport`, :class:`DelegateReport` and its text.
- ``checking``: :func:`check`, :func:`precision`, ``RULE_FUNCTIONS``, the per-target evaluation.

The names other code uses are re-exported here.
"""

from convert.delegates.checking import RULE_FUNCTIONS, check, precision
from convert.delegates.graph import Graph, Node, runtime_sized
from convert.delegates.partitions import partition
from convert.delegates.report import DelegateReport, Fallback, TargetReport
from convert.delegates.targets import RULES, STRICT_TARGETS, TARGETS, TITLES

__all__ = [
    "RULES",
    "RULE_FUNCTIONS",
    "STRICT_TARGETS",
    "TARGETS",
    "TITLES",
    "DelegateReport",
    "Fallback",
    "Graph",
    "Node",
    "TargetReport",
    "check",
    "partition",
    "precision",
    "runtime_sized",
]
