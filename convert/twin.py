"""A tf_keras (Keras 2) twin of a zoo model, for tensorflow-model-optimization.

tfmot's quantization-aware training, pruning and clustering work on tf_keras models only
(DESIGN.md 2). :func:`twin` rebuilds a Keras 3 functional model in tf_keras: it walks the
Keras 3 graph node by node (nested models included), makes each layer's tf_keras
counterpart from its config (the zoo's own layers have hand-written twins here), calls it on
the twin tensors and copies the weights, so the twin computes the same function (to float
rounding, ~1e-6)::

    from convert.twin import twin
    legacy = twin(zoo.get("fsrcnn_x3"))            # a tf_keras.Model, same outputs
    flat = twin(zoo.get("vae_tiny"), flatten=True)  # nested models inlined

``fold_batch_norm=True`` (the default) folds every inference-mode BatchNormalization that
directly follows a Conv2D, Conv2DTranspose or Dense (also through a Reshape after a Dense, as
in DCGAN's projection, or a DepthToSpace after a Conv2D, the sub-pixel up-block) into that
layer's kernel and bias, when nothing else reads the layer's output.
tfmot leaves BN after a Conv2DTranspose as a float island in the int8 file (DESIGN.md 3), and
folding before pruning or clustering keeps the zeros and the shared values of the final
kernel. The folded model matches the original in inference mode (``training=False``).

A new custom layer needs a twin: decorate a factory with :func:`register_twin`.
Importing this module imports tf_keras, but never tensorflow_model_optimization.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
import tf_keras

from zoo.errors import ZooError
from zoo.layers import DepthToSpace, MaxUnpool2D, NearestUpsampling2D
from zoo.models.vae import Sampling

_TWIN_PACKAGE = "zoo_twin"
_BASE_KEYS = ("name", "trainable", "dtype")
_RENAMED = {"LeakyReLU": {"negative_slope": "alpha"}}
_FOLDABLE = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)


# === tf_keras twins of the zoo's custom layers ===


@tf_keras.utils.register_keras_serializable(package=_TWIN_PACKAGE)
class DepthToSpaceTwin(tf_keras.layers.Layer):
    """tf_keras twin of :class:`zoo.layers.DepthToSpace` (TFLite DEPTH_TO_SPACE)."""

    def __init__(self, block_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.block_size = block_size

    def call(self, inputs):
        return tf.nn.depth_to_space(inputs, self.block_size)

    def get_config(self) -> dict:
        return {**super().get_config(), "block_size": self.block_size}


def nearest_upsample(x, scale: int, op: str = "depth_to_space"):
    """Repeat pixels ``scale`` times, as :func:`zoo.layers.nearest_upsample` (static if known)."""
    if op == "depth_to_space":
        return tf.nn.depth_to_space(tf.concat([x] * (scale * scale), axis=-1), scale)
    height = x.shape[1] * scale if x.shape[1] is not None else tf.shape(x)[1] * scale
    width = x.shape[2] * scale if x.shape[2] is not None else tf.shape(x)[2] * scale
    return tf.image.resize(x, (height, width), method="nearest")


@tf_keras.utils.register_keras_serializable(package=_TWIN_PACKAGE)
class NearestUpsampling2DTwin(tf_keras.layers.Layer):
    """tf_keras twin of :class:`zoo.layers.NearestUpsampling2D`."""

    def __init__(self, scale: int = 2, op: str = "depth_to_space", **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = scale
        self.op = op

    def call(self, inputs):
        return nearest_upsample(inputs, self.scale, self.op)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "op": self.op}


@tf_keras.utils.register_keras_serializable(package=_TWIN_PACKAGE)
class MaxUnpool2DTwin(tf_keras.layers.Layer):
    """tf_keras twin of :class:`zoo.layers.MaxUnpool2D`: [features, before, after] -> unpooled."""

    def __init__(
        self, size: int = 2, width: float = 0.0, op: str = "depth_to_space", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.size = size
        self.width = float(width)
        self.op = op

    def share(self, before_pool, after_pool):
        """Each position's share of its window's value, in [0, 1] (hard: 0 or 1)."""
        window_max = nearest_upsample(after_pool, self.size, self.op)
        if self.width:
            return tf.nn.relu(before_pool - window_max + self.width) * (1.0 / self.width)
        return tf.cast(tf.equal(before_pool, window_max), before_pool.dtype)

    def call(self, inputs):
        features, before_pool, after_pool = inputs
        upsampled = nearest_upsample(features, self.size, self.op)
        return upsampled * self.share(before_pool, after_pool)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "width": self.width, "op": self.op}


@tf_keras.utils.register_keras_serializable(package=_TWIN_PACKAGE)
class SamplingTwin(tf_keras.layers.Layer):
    """tf_keras twin of :class:`zoo.models.vae.Sampling`: z_mean at inference, noisy in training."""

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        if not training:
            return z_mean
        eps = tf.random.normal(tf.shape(z_mean), dtype=z_mean.dtype, seed=self.seed)
        return z_mean + tf.exp(0.5 * z_log_var) * eps

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


TwinFactory = Callable[[keras.layers.Layer], tf_keras.layers.Layer]
_CUSTOM: dict[type, TwinFactory] = {}


def register_twin(layer_class: type) -> Callable[[TwinFactory], TwinFactory]:
    """Register ``factory(layer) -> tf_keras layer`` as the twin of Keras 3 ``layer_class``."""

    def decorator(factory: TwinFactory) -> TwinFactory:
        _CUSTOM[layer_class] = factory
        return factory

    return decorator


def _base(layer: keras.layers.Layer) -> dict:
    return {"name": layer.name, "dtype": layer.dtype_policy.name, "trainable": layer.trainable}


@register_twin(DepthToSpace)
def _depth_to_space(layer: DepthToSpace) -> tf_keras.layers.Layer:
    return DepthToSpaceTwin(layer.block_size, **_base(layer))


@register_twin(NearestUpsampling2D)
def _nearest_upsampling(layer: NearestUpsampling2D) -> tf_keras.layers.Layer:
    return NearestUpsampling2DTwin(layer.scale, layer.op, **_base(layer))


@register_twin(MaxUnpool2D)
def _max_unpool(layer: MaxUnpool2D) -> tf_keras.layers.Layer:
    return MaxUnpool2DTwin(layer.size, layer.width, layer.op, **_base(layer))


@register_twin(Sampling)
def _sampling(layer: Sampling) -> tf_keras.layers.Layer:
    return SamplingTwin(layer.seed, **_base(layer))


# The twin classes by name, for tfmot's ``quantize_scope`` and tf_keras deserialization.
CUSTOM_OBJECTS = {
    cls.__name__: cls
    for cls in (DepthToSpaceTwin, NearestUpsampling2DTwin, MaxUnpool2DTwin, SamplingTwin)
}


# === Built-in layers ===


def twin_layer(layer: keras.layers.Layer, **changes) -> tf_keras.layers.Layer:
    """The tf_keras counterpart of one Keras 3 layer, made from its config (unbuilt).

    Initializers, regularizers and constraints are left at tf_keras' defaults (the weights are
    copied afterwards). ``changes`` override config entries (e.g. ``use_bias=True``).
    """
    factory = _CUSTOM.get(type(layer))
    if factory is not None:
        made = factory(layer)
        made._name = changes.get("name", made.name)  # a flattened model renames clashes
        return made
    name = type(layer).__name__
    cls = getattr(tf_keras.layers, name, None)
    if cls is None or not type(layer).__module__.startswith("keras."):
        raise ZooError(
            f"no tf_keras twin for layer {layer.name!r} ({type(layer).__module__}.{name}); "
            "register one with convert.twin.register_twin"
        )
    config = {
        _RENAMED.get(name, {}).get(key, key): value for key, value in layer.get_config().items()
    }
    config.update(_base(layer), **changes)
    accepted = set(inspect.signature(cls.__init__).parameters) | set(_BASE_KEYS)
    dropped = ("_initializer", "_regularizer", "_constraint")
    config = {
        key: value for key, value in config.items() if key in accepted and not key.endswith(dropped)
    }
    return cls.from_config(config)


# === Batch-norm folding ===


@dataclass
class _Fold:
    """A BN folded into ``producer`` (a conv or dense layer), perhaps through a Reshape."""

    producer: keras.layers.Layer
    batch_norm: keras.layers.BatchNormalization
    channels_every: int  # the BN channel of output unit u is u % channels_every (Dense -> Reshape)

    def weights(self) -> list[np.ndarray]:
        """[kernel, bias] of the producer with the BN's inference transform folded in."""
        bn = self.batch_norm
        mean = np.asarray(bn.moving_mean, np.float64)
        variance = np.asarray(bn.moving_variance, np.float64)
        gamma = np.asarray(bn.gamma, np.float64) if bn.scale else np.ones_like(mean)
        beta = np.asarray(bn.beta, np.float64) if bn.center else np.zeros_like(mean)
        scale = gamma / np.sqrt(variance + bn.epsilon)
        shift = beta - mean * scale
        producer = self.producer
        kernel = np.asarray(producer.kernel, np.float64)
        units = (
            kernel.shape[2]
            if isinstance(producer, keras.layers.Conv2DTranspose)
            else kernel.shape[-1]
        )
        repeats = units // len(scale)
        scale, shift = np.tile(scale, repeats), np.tile(shift, repeats)
        bias = np.asarray(producer.bias, np.float64) if producer.use_bias else np.zeros(units)
        if isinstance(producer, keras.layers.Conv2DTranspose):  # (kh, kw, out, in)
            kernel = kernel * scale[None, None, :, None]
        else:  # Conv2D (kh, kw, in, out), Dense (in, out)
            kernel = kernel * scale
        return [kernel.astype(np.float32), (bias * scale + shift).astype(np.float32)]


def _nodes(model: keras.Model) -> list:
    """The model's call nodes in execution order (deepest first), inputs left out."""
    nodes = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        nodes += [n for n in model._nodes_by_depth[depth] if n.operation and not n.is_input]
    return nodes


def _producer(tensor):
    return tensor._keras_history.operation


def _rearranges(layer, producer=None) -> bool:
    """Whether ``layer`` only moves channels so that unit u of ``producer`` lands in u % C.

    Dense -> Reshape to (..., C) (row-major) and Conv2D -> DepthToSpace both do.
    """
    if isinstance(layer, keras.layers.Reshape):
        return producer is None or isinstance(producer, keras.layers.Dense)
    if isinstance(layer, DepthToSpace):
        return producer is None or type(producer) is keras.layers.Conv2D
    return False


def find_folds(model: keras.Model) -> list[_Fold]:
    """The BatchNormalization layers of ``model`` (not nested ones) that can be folded."""
    readers: dict[int, int] = {}
    for node in _nodes(model):
        for tensor in node.input_tensors:
            readers[id(tensor)] = readers.get(id(tensor), 0) + 1
    for tensor in model.outputs:
        readers[id(tensor)] = readers.get(id(tensor), 0) + 1

    def only_read_once(tensor) -> bool:
        layer = _producer(tensor)
        return readers.get(id(tensor), 0) == 1 and len(layer._inbound_nodes) == 1

    folds = []
    for node in _nodes(model):
        bn = node.operation
        if not isinstance(bn, keras.layers.BatchNormalization) or len(bn._inbound_nodes) != 1:
            continue
        (tensor,) = node.input_tensors
        if bn.axis not in (-1, len(tensor.shape) - 1) or getattr(bn, "renorm", False):
            continue
        layer, channels = _producer(tensor), tensor.shape[-1]
        if _rearranges(layer) and only_read_once(tensor):
            (tensor,) = layer._inbound_nodes[0].input_tensors
            if not _rearranges(layer, _producer(tensor)):
                continue
            layer = _producer(tensor)
        if (
            isinstance(layer, _FOLDABLE)
            and only_read_once(tensor)
            and tensor.shape[-1] % channels == 0
            and layer.get_config().get("activation", "linear") == "linear"
            and layer.get_config().get("data_format", "channels_last") == "channels_last"
        ):
            folds.append(_Fold(layer, bn, channels))
    return folds


# === The twin ===


@dataclass
class Twin:
    """A tf_keras twin and how its layers map back to the Keras 3 model's.

    ``layers``: (path, twin layer name, fold) per Keras 3 layer with a twin layer; ``path`` is
    the nested model names then the layer name (``("encoder", "down1_conv")``). ``folds``:
    the folded BatchNormalization layers.
    """

    model: tf_keras.Model
    layers: list[tuple[tuple[str, ...], str, _Fold | None]]
    folds: list[_Fold]

    def fixed_biases(self) -> list[str]:
        """Twin layers whose bias must stay as folded to map back onto the Keras 3 model.

        A BN folded through a Reshape / DepthToSpace into a layer without bias gives a bias per
        unit that the Keras 3 model can only hold per channel (in the BN): keep it fixed.
        """
        return [
            name
            for _, name, fold in self.layers
            if fold is not None
            and not fold.producer.use_bias
            and _units(fold.producer) != fold.channels_every
        ]

    def write_back(self, weights: dict[str, list[np.ndarray]], target: keras.Model) -> None:
        """Put twin weights (by twin layer name) into ``target``, a model like the original.

        A folded BN becomes the identity carrying the bias: gamma 1, beta 0, variance
        1 - epsilon and mean = -bias (or the bias goes into the producer when it has one).
        """
        for path, name, fold in self.layers:
            values = [np.asarray(v) for v in weights[name]]
            layer = _resolve(target, path)
            if fold is None:
                layer.set_weights(values)
                continue
            kernel, bias = values
            bn = _resolve(target, (*path[:-1], fold.batch_norm.name))
            channels = fold.channels_every
            if layer.use_bias:
                layer.set_weights([kernel, bias])
                bias = np.zeros(channels, np.float32)
            else:
                layer.set_weights([kernel])
                bias = bias[:channels]
            identity = {
                "gamma": np.ones(channels),
                "beta": np.zeros(channels),
                "moving_mean": -bias,
                "moving_variance": np.full(channels, 1.0 - bn.epsilon),
            }
            for weight in bn.weights:
                key = weight.path.split("/")[-1]
                weight.assign(identity[key].astype(np.float32))


def _units(layer: keras.layers.Layer) -> int:
    kernel = layer.kernel
    return kernel.shape[2] if isinstance(layer, keras.layers.Conv2DTranspose) else kernel.shape[-1]


def _resolve(model: keras.Model, path: tuple[str, ...]) -> keras.layers.Layer:
    layer = model
    for name in path:
        layer = layer.get_layer(name)
    return layer


def build_twin(model: keras.Model, *, fold_batch_norm: bool = True, flatten: bool = False) -> Twin:
    """The tf_keras twin of Keras 3 functional ``model`` (see :func:`twin`), with its layer map."""
    if not hasattr(model, "_nodes_by_depth"):
        raise ZooError(f"{model.name} is not a functional model; the twin needs its graph")
    inputs = [
        tf_keras.Input(
            shape=tuple(tensor.shape[1:]), dtype=tensor.dtype, name=_producer(tensor).name
        )
        for tensor in model.inputs
    ]
    builder = _Builder(fold_batch_norm=fold_batch_norm, flatten=flatten)
    outputs = builder.run(model, inputs)
    legacy = tf_keras.Model(_single(inputs), _single(outputs), name=model.name)
    return Twin(legacy, builder.entries, builder.folds)


def twin(
    model: keras.Model, *, fold_batch_norm: bool = True, flatten: bool = False
) -> tf_keras.Model:
    """A tf_keras model computing what Keras 3 functional ``model`` computes.

    ``fold_batch_norm``: fold BN into the preceding conv / dense layer (see the module
    docstring). ``flatten``: inline nested models (tfmot cannot quantize or prune a model
    inside a model); otherwise each nested model becomes a nested tf_keras model.
    """
    return build_twin(model, fold_batch_norm=fold_batch_norm, flatten=flatten).model


def _single(tensors: list):
    return tensors[0] if len(tensors) == 1 else tensors


class _Builder:
    def __init__(self, *, fold_batch_norm: bool, flatten: bool) -> None:
        self.fold_batch_norm = fold_batch_norm
        self.flatten = flatten
        self.layers: dict[int, tf_keras.layers.Layer] = {}
        self.names: set[str] = set()
        self.entries: list[tuple[tuple[str, ...], str, _Fold | None]] = []
        self.folds: list[_Fold] = []

    def run(self, model: keras.Model, inputs: list, path: tuple[str, ...] = ()) -> list:
        """Run ``model``'s graph on twin tensors ``inputs``; returns its twin outputs."""
        folds = find_folds(model) if self.fold_batch_norm else []
        self.folds += folds
        folded_into = {id(f.producer): f for f in folds}
        skipped = {id(f.batch_norm) for f in folds}
        tensors = {id(x): y for x, y in zip(model.inputs, inputs, strict=True)}
        for node in _nodes(model):
            operation = node.operation
            args, kwargs = node.arguments.fill_in(tensors)
            if id(operation) in skipped:
                outputs = args[0]  # a folded BN: its input already carries it
            elif isinstance(operation, keras.Model):
                outputs = self._nested(operation, args, kwargs, path)
            else:
                fold = folded_into.get(id(operation))
                layer = self._layer(operation, fold, path)
                outputs = layer(*args, **kwargs)
                self._copy_weights(operation, fold)
            for x, y in zip(node.outputs, tf.nest.flatten(outputs), strict=True):
                tensors[id(x)] = y
        return [tensors[id(x)] for x in model.outputs]

    def _nested(self, model: keras.Model, args, kwargs, path: tuple[str, ...]):
        if not self.flatten:
            if id(model) not in self.layers:
                nested = build_twin(model, fold_batch_norm=self.fold_batch_norm)
                self.layers[id(model)] = nested.model
                self.folds += nested.folds
                self.entries += [
                    ((*path, model.name, *p), f"{model.name}/{n}", f) for p, n, f in nested.layers
                ]
            return self.layers[id(model)](*args, **kwargs)
        kwargs = {key: value for key, value in kwargs.items() if value is not None}
        if kwargs:
            raise ZooError(f"cannot inline nested model {model.name} called with {sorted(kwargs)}")
        return _single(self.run(model, tf.nest.flatten(args), path=(*path, model.name)))

    def _layer(self, layer: keras.layers.Layer, fold: _Fold | None, path: tuple[str, ...]):
        if id(layer) not in self.layers:
            name = layer.name
            if name in self.names:
                name = "_".join((*path, layer.name))
            self.names.add(name)
            changes = {"name": name}
            if fold is not None:
                changes["use_bias"] = True
            self.layers[id(layer)] = twin_layer(layer, **changes)
            if layer.weights:
                self.entries.append(((*path, layer.name), name, fold))
        return self.layers[id(layer)]

    def _copy_weights(self, layer: keras.layers.Layer, fold: _Fold | None) -> None:
        target = self.layers[id(layer)]
        weights = fold.weights() if fold is not None else [np.asarray(w) for w in layer.weights]
        if len(target.weights) != len(weights):
            raise ZooError(
                f"twin of layer {layer.name!r} has {len(target.weights)} weights, "
                f"the original {len(weights)}"
            )
        target.set_weights(weights)
