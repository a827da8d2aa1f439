"""tensorflow-model-optimization on a tf_keras twin: QAT, pruning, clustering and their mixes.

tfmot comes through :mod:`convert.tfmot_adapter` (the one place that names its modules);
import this module lazily (``convert.optimize`` does).

Every function takes and returns flat tf_keras models (:func:`convert.twin.twin` with
``flatten=True``). Wrapping only touches the layers that carry a kernel (Conv2D,
Conv2DTranspose, Dense); other layers pass through unchanged.

Two things differ from tfmot's defaults, both for files the phone delegates run:

- the layout transforms that drop the output quantizer of a conv / dense / add feeding a
  ReLU are left out. One of them (``LayerReluActivationQuantize``) matches Conv2DTranspose
  by accident (its pattern ``Add|Conv2D|...`` is anchored only at its ends) and then replaces
  the layer's whole quantize config, kernel quantizer included, with a no-op: the int8 file
  keeps a float TRANSPOSE_CONV. Without them every conv output is fake-quantized and the
  ReLU stays a separate int8 op (the converter still fuses it into CONV_2D where it may);
- the pruning- and cluster-preserving registries (PQAT, CQAT, PCQAT) also cover
  Conv2DTranspose (tfmot lists it as "not yet"), with the per-tensor symmetric weight
  quantizer TFLite uses for TRANSPOSE_CONV.

PReLU (FSRCNN) has no tfmot quantize config: its output is fake-quantized and the converter
quantizes its slopes (PRELU stays an int8 op). The zoo's own layers that only move values
(depth-to-space, nearest upsampling) are left unquantized (they keep their input's scale);
unpooling fake-quantizes its 0/1 switch mask; a clipping ReLU(max_value=m) becomes an int8
tensor of fixed range [0, m] (the quantization clips).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import tensorflow as tf
import tf_keras

from convert.tfmot_adapter import (
    cluster_preserve,
    cluster_preserve_scheme,
    default_scheme,
    layout,
    model_transformer,
    prune_preserve,
    prune_preserve_scheme,
    quantizers,
    tfmot,
    transforms,
)
from convert.twin import (
    CUSTOM_OBJECTS,
    DepthToSpaceTwin,
    MaxUnpool2DTwin,
    NearestUpsampling2DTwin,
    SamplingTwin,
    nearest_upsample,
)
from zoo.errors import ZooError

KERNEL_LAYERS = (tf_keras.layers.Conv2D, tf_keras.layers.Conv2DTranspose, tf_keras.layers.Dense)
QuantizeConfig = tfmot.quantization.keras.QuantizeConfig


# === Quantize configs for layers tfmot does not know ===


class OutputQuantizeConfig(QuantizeConfig):
    """Fake-quantize the layer's output only (PReLU: the converter quantizes its slopes)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [
            quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]

    def get_config(self) -> dict:
        return {}


class PassThroughQuantizeConfig(OutputQuantizeConfig):
    """No quantizer: the layer only moves values, its output keeps its input's scale."""

    def get_output_quantizers(self, layer):
        return []


class QuantizedMaxUnpool2DTwin(MaxUnpool2DTwin):
    """Unpooling for QAT: the switch mask (0/1, or a soft share) is fake-quantized to [0, 1]
    (exact on 0 and 1).

    Without it the converter leaves CAST -> MUL (and what follows) as a float island.
    """

    def call(self, inputs):
        features, before_pool, after_pool = inputs
        mask = tf.quantization.fake_quant_with_min_max_args(
            self.share(before_pool, after_pool), min=0.0, max=1.0, num_bits=8
        )
        return nearest_upsample(features, self.size, self.op) * mask


@tf_keras.utils.register_keras_serializable(package="zoo_twin")
class ClampTwin(tf_keras.layers.Layer):
    """QAT stand-in for ReLU(max_value=m): the identity, whose fixed [0, m] quantizer clamps.

    tf_keras' clipping ReLU is three ops (RELU, MINIMUM, RELU) with no quantizer between them,
    which the converter leaves in float; an int8 tensor with range [0, m] clips by itself.
    """

    def __init__(self, max_value: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_value = max_value

    def call(self, inputs):
        return tf.identity(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value}


class ClampQuantizeConfig(OutputQuantizeConfig):
    """The output fake-quantized to the fixed range [0, max_value]."""

    def __init__(self, max_value: float) -> None:
        self.max_value = max_value

    def get_output_quantizers(self, layer):
        return [
            quantizers.FixedQuantizer(
                num_bits=8, init_min=0.0, init_max=self.max_value, narrow_range=False
            )
        ]

    def get_config(self) -> dict:
        return {"max_value": self.max_value}


def _clamp(layer) -> float | None:
    """The upper bound of a plain clipping ReLU (ReLU(max_value=m)), else None."""
    if not isinstance(layer, tf_keras.layers.ReLU) or layer.max_value is None:
        return None
    if float(layer.negative_slope) or float(layer.threshold):
        return None
    return float(layer.max_value)


_PASS_THROUGH = (DepthToSpaceTwin, NearestUpsampling2DTwin, SamplingTwin)
SCOPE = {
    **CUSTOM_OBJECTS,
    "QuantizedMaxUnpool2DTwin": QuantizedMaxUnpool2DTwin,
    "ClampTwin": ClampTwin,
    "ClampQuantizeConfig": ClampQuantizeConfig,
    "OutputQuantizeConfig": OutputQuantizeConfig,
    "PassThroughQuantizeConfig": PassThroughQuantizeConfig,
}


# === Schemes ===


class _LayoutTransform(layout.Default8BitQuantizeLayoutTransform):
    """tfmot's default layout transforms minus the two that drop a ReLU's input quantizer.

    (The twin has no BatchNormalization left next to a conv, so the BN-fusing transforms
    have nothing to do either; they stay for models built without folding.)
    """

    def apply(self, model, layer_quantize_map):
        kept = [
            transforms.InputLayerQuantize(),
            transforms.SeparableConv1DQuantize(),
            transforms.SeparableConvQuantize(),
            transforms.Conv2DReshapeBatchNormReLUQuantize(),
            transforms.Conv2DReshapeBatchNormActivationQuantize(),
            transforms.Conv2DBatchNormReLUQuantize(),
            transforms.Conv2DBatchNormActivationQuantize(),
            transforms.Conv2DReshapeBatchNormQuantize(),
            transforms.Conv2DBatchNormQuantize(),
            transforms.ConcatTransform6Inputs(),
            transforms.ConcatTransform5Inputs(),
            transforms.ConcatTransform4Inputs(),
            transforms.ConcatTransform3Inputs(),
            transforms.ConcatTransform(),
            transforms.DenseBatchNormQuantize(),
            transforms.DenseBatchNormReLUQuantize(),
            transforms.DenseBatchNormActivationQuantize(),
        ]
        return model_transformer.ModelTransformer(
            model, kept, set(layer_quantize_map.keys()), layer_quantize_map
        ).transform()


_TRANSPOSE_CONFIG = "Default8BitConvTransposeQuantizeConfig"


class _PrunePreserveRegistry(prune_preserve.Default8bitPrunePreserveQuantizeRegistry):
    _LAYERS_CONFIG_MAP: ClassVar[dict] = {
        **prune_preserve.PrunePreserveQuantizeRegistry._LAYERS_CONFIG_MAP,
        tf_keras.layers.Conv2DTranspose: prune_preserve._PrunePreserveInfo(
            ["kernel"], [_TRANSPOSE_CONFIG]
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self._config_quantizer_map[_TRANSPOSE_CONFIG] = (
            prune_preserve.PrunePreserveDefault8BitWeightsQuantizer()
        )


class _ClusterPreserveRegistry(cluster_preserve.Default8bitClusterPreserveQuantizeRegistry):
    _LAYERS_CONFIG_MAP: ClassVar[dict] = {
        **cluster_preserve.ClusterPreserveQuantizeRegistry._LAYERS_CONFIG_MAP,
        tf_keras.layers.Conv2DTranspose: cluster_preserve._ClusterPreserveInfo(
            ["kernel"], [_TRANSPOSE_CONFIG]
        ),
    }

    def __init__(self, preserve_sparsity: bool) -> None:
        super().__init__(preserve_sparsity)
        self._config_quantizer_map[_TRANSPOSE_CONFIG] = (
            cluster_preserve.ClusterPreserveDefault8BitWeightsQuantizer(preserve_sparsity)
        )


class _Default(default_scheme.Default8BitQuantizeScheme):
    def get_layout_transformer(self):
        return _LayoutTransform()


class _PrunePreserve(prune_preserve_scheme.Default8BitPrunePreserveQuantizeScheme):
    def get_layout_transformer(self):
        return _LayoutTransform()

    def get_quantize_registry(self):
        return _PrunePreserveRegistry()


class _ClusterPreserve(cluster_preserve_scheme.Default8BitClusterPreserveQuantizeScheme):
    def get_layout_transformer(self):
        return _LayoutTransform()

    def get_quantize_registry(self):
        return _ClusterPreserveRegistry(self.preserve_sparsity)


def quantize_scheme(*, pruned: bool, clustered: bool):
    """QAT (neither), PQAT (pruned), CQAT (clustered) or PCQAT (both)."""
    if clustered:
        return _ClusterPreserve(preserve_sparsity=pruned)
    return _PrunePreserve() if pruned else _Default()


# === Wrapping ===


def _clone(model: tf_keras.Model, wrap: Callable) -> tf_keras.Model:
    with tfmot.quantization.keras.quantize_scope(SCOPE):
        return tf_keras.models.clone_model(model, clone_function=wrap)


def _wrap_kernels(model: tf_keras.Model, wrap: Callable, *, min_size: int = 0) -> tuple:
    """Clone ``model`` with ``wrap`` applied to its kernel layers; returns (model, names).

    The wrappers hold the original layers (their trained weights: clustering starts its
    centroids from them); the other layers are shared with ``model``.
    """
    wrapped = []

    def clone(layer):
        if isinstance(layer, KERNEL_LAYERS) and int(np.prod(layer.kernel.shape)) > min_size:
            wrapped.append(layer.name)
            return wrap(layer)
        return layer

    if not any(
        isinstance(layer, KERNEL_LAYERS) and int(np.prod(layer.kernel.shape)) > min_size
        for layer in model.layers
    ):
        raise ZooError(f"{model.name} has no layer with a kernel large enough to optimize")
    return _clone(model, clone), wrapped


def prune(model: tf_keras.Model, sparsity: float, steps: int) -> tuple:
    """Magnitude pruning to ``sparsity`` over the first two thirds of ``steps``."""
    schedules = tfmot.sparsity.keras
    if steps < 4:
        schedule = schedules.ConstantSparsity(sparsity, begin_step=0, frequency=1)
    else:
        frequency = max(1, (2 * steps // 3) // 10)
        end = max(frequency, (2 * steps // 3) // frequency * frequency)
        schedule = schedules.PolynomialDecay(
            0.0, sparsity, begin_step=0, end_step=end, frequency=frequency
        )
    return _wrap_kernels(
        model, lambda layer: schedules.prune_low_magnitude(layer, pruning_schedule=schedule)
    )


def cluster(model: tf_keras.Model, clusters: int, *, preserve_sparsity: bool) -> tuple:
    """Weight clustering to ``clusters`` shared values per kernel (k-means++ start).

    Kernels with at most ``clusters`` weights are left alone. ``preserve_sparsity`` keeps
    the zeros of a pruned kernel at zero (sparsity-preserving clustering).
    """
    clustering = tfmot.clustering.keras
    init = clustering.CentroidInitialization.KMEANS_PLUS_PLUS

    def wrap(layer):
        return clustering.cluster_weights(
            layer,
            number_of_clusters=clusters,
            cluster_centroids_init=init,
            preserve_sparsity=preserve_sparsity,
        )

    return _wrap_kernels(model, wrap, min_size=clusters)


def quantize(model: tf_keras.Model, *, pruned: bool = False, clustered: bool = False):
    """Quantization-aware model (fake-quant int8) with the scheme for what came before."""
    keras_quant = tfmot.quantization.keras

    def annotate(layer):
        if isinstance(layer, tf_keras.layers.InputLayer):
            return layer
        if isinstance(layer, MaxUnpool2DTwin):
            unpool = QuantizedMaxUnpool2DTwin.from_config(layer.get_config())
            return keras_quant.quantize_annotate_layer(unpool, OutputQuantizeConfig())
        if _clamp(layer) is not None:
            clamp = ClampTwin(_clamp(layer), name=layer.name)
            return keras_quant.quantize_annotate_layer(clamp, ClampQuantizeConfig(_clamp(layer)))
        if isinstance(layer, _PASS_THROUGH):
            return keras_quant.quantize_annotate_layer(layer, PassThroughQuantizeConfig())
        if isinstance(layer, tf_keras.layers.PReLU):
            return keras_quant.quantize_annotate_layer(layer, OutputQuantizeConfig())
        return keras_quant.quantize_annotate_layer(layer)

    annotated = _clone(model, annotate)
    scheme = quantize_scheme(pruned=pruned, clustered=clustered)
    try:
        with keras_quant.quantize_scope(SCOPE):
            return keras_quant.quantize_apply(annotated, scheme)
    except (ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ZooError(f"quantization-aware training cannot wrap {model.name}: {first}") from None


_RANGE_PREFIXES = ("post_activation", "output", "quantize_layer")


def initialize_ranges(model: tf_keras.Model, reference: tf_keras.Model, inputs: list) -> int:
    """Start every activation quantizer of QAT ``model`` at its tensor's range on ``inputs``.

    tfmot starts them at [-6, 6] and moves them by an exponential average (decay 0.999), so a
    short fine-tune would leave ranges far wider than the data's (a coarse int8 grid, worse
    than post-training calibration). ``reference`` is the float model ``model`` was made
    from (same layer names); ``inputs`` one array per model input. Returns how many ranges
    were set.
    """
    reference = fresh_copy(reference)
    targets = []  # (min variable, max variable, reference tensor)
    input_names = [tensor.name.split(":")[0] for tensor in reference.inputs]
    for layer in model.layers:
        variables = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
        for prefix in _RANGE_PREFIXES:
            low, high = variables.get(f"{prefix}_min"), variables.get(f"{prefix}_max")
            if low is None or high is None:
                continue
            if prefix == "quantize_layer":
                source = layer._inbound_nodes[0].inbound_layers
                source = source[0] if isinstance(source, list) else source
                tensor = reference.inputs[input_names.index(source.name)]
            else:
                tensor = reference.get_layer(getattr(layer, "layer", layer).name).output
            targets.append((low, high, tensor))
    if not targets:
        return 0
    probe = tf_keras.Model(reference.inputs, [tensor for _, _, tensor in targets])
    feed = inputs[0] if len(inputs) == 1 else list(inputs)
    values = probe(feed, training=False)
    values = values if isinstance(values, list | tuple) else [values]
    for (low, high, _), value in zip(targets, values, strict=True):
        value = np.asarray(value)
        low.assign(min(float(value.min()), 0.0))
        high.assign(max(float(value.max()), 0.0))
    return len(targets)


def pruning_callback(model: tf_keras.Model):
    """tfmot's step callback, set up for a custom loop (call ``on_epoch_end`` at the end)."""
    callback = tfmot.sparsity.keras.UpdatePruningStep()
    callback.set_model(model)
    callback.on_train_begin()
    return callback


def strip(model: tf_keras.Model) -> tf_keras.Model:
    """The plain model under pruning or clustering wrappers (masks and clusters applied)."""
    with tfmot.quantization.keras.quantize_scope(SCOPE):
        model = tfmot.sparsity.keras.strip_pruning(model)
        return fresh_copy(tfmot.clustering.keras.strip_clustering(model))


def fresh_copy(model: tf_keras.Model) -> tf_keras.Model:
    """The same model with layers of its own (wrapping and stripping share layers between
    models, and a shared layer's ``.output`` belongs to the first model that called it)."""
    with tfmot.quantization.keras.quantize_scope(SCOPE):
        copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def effective_weights(model: tf_keras.Model) -> dict[str, list[np.ndarray]]:
    """Per layer name, the weights the model computes with, in the layer's weight order.

    For a quantization-aware model that is the fake-quantized kernel (what the int8 file
    holds, dequantized; clustered where CQAT keeps clusters): the wrapper sets it on the
    inner layer during a call, so call the model once in inference mode first.
    """
    found = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", None)
        if inner is None or not hasattr(layer, "quantize_config"):
            if layer.weights:
                found[layer.name] = layer.get_weights()
            continue
        values = []
        for weight in layer.weights:  # the inner layer's own variables come first, in order
            if not weight.name.startswith(f"{inner.name}/"):
                continue
            attribute = weight.name.split("/")[-1].split(":")[0]
            values.append(np.asarray(getattr(inner, attribute, weight)))
        found[inner.name] = values
    return found
