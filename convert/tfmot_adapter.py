"""tensorflow-model-optimization, imported once, version-checked, its internals named here.

The zoo's quantize configs and schemes extend tfmot's default 8-bit scheme and its
pruning- and cluster-preserving registries, which tfmot exposes only under
``tensorflow_model_optimization.python.core``. Those paths are not public API, so this
module is the only one that names them, and it refuses a tfmot release outside the range
they were read from (``pyproject.toml`` pins the same range).

tfmot sets ``TF_USE_LEGACY_KERAS=1`` when it loads, which would leak into subprocesses;
the import puts the variable back as it was (``keras`` is Keras 3 either way, and the zoo
never uses ``tf.keras``).
"""

from __future__ import annotations

import os

from zoo.errors import ZooError

SUPPORTED = ((0, 8), (0, 9))  # [low, high): the releases whose internals are named below


def _import_tfmot():
    previous = os.environ.get("TF_USE_LEGACY_KERAS")
    import tensorflow_model_optimization as tfmot

    if previous is None:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
    else:
        os.environ["TF_USE_LEGACY_KERAS"] = previous
    release = tuple(int(part) for part in tfmot.__version__.split(".")[:2])
    low, high = SUPPORTED
    if not low <= release < high:
        raise ZooError(
            f"tensorflow-model-optimization {tfmot.__version__} is not supported: the zoo's "
            f"quantization schemes build on the internals of {low[0]}.{low[1]}.x; "
            f"pip install 'tensorflow-model-optimization>={low[0]}.{low[1]},<{high[0]}.{high[1]}'"
        )
    return tfmot


tfmot = _import_tfmot()

from tensorflow_model_optimization.python.core.quantization.keras import (  # noqa: E402
    quantizers,
)
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (  # noqa: E402, E501
    cluster_preserve_quantize_registry as cluster_preserve,
)
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (  # noqa: E402, E501
    default_8bit_cluster_preserve_quantize_scheme as cluster_preserve_scheme,
)
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E402, E501
    default_8bit_prune_preserve_quantize_scheme as prune_preserve_scheme,
)
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E402, E501
    prune_preserve_quantize_registry as prune_preserve,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E402
    default_8bit_quantize_layout_transform as layout,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E402
    default_8bit_quantize_scheme as default_scheme,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E402
    default_8bit_transforms as transforms,
)
from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import (  # noqa: E402
    model_transformer,
)

__all__ = [
    "cluster_preserve",
    "cluster_preserve_scheme",
    "default_scheme",
    "layout",
    "model_transformer",
    "prune_preserve",
    "prune_preserve_scheme",
    "quantizers",
    "tfmot",
    "transforms",
]
