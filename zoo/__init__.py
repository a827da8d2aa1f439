"""deconv-zoo: transposed-convolution networks, from registry to phone.

Public surface::

    import zoo
    zoo.list_models("fsrcnn*")        # names, wildcard include/exclude
    zoo.info("fsrcnn_x3")             # ModelInfo, without building
    model = zoo.get("fsrcnn_x3")      # a functional keras.Model
    disc = zoo.get_discriminator("dcgan_32")

Importing ``zoo`` is light; TensorFlow loads when the first model is built.
"""

from zoo.errors import UnknownModelError, ZooError
from zoo.registry import (
    TASKS,
    UPSAMPLE_MODES,
    ModelInfo,
    Recipe,
    TensorSpec,
    get,
    get_discriminator,
    info,
    list_models,
    register,
)

__version__ = "0.1.0"

__all__ = [
    "TASKS",
    "UPSAMPLE_MODES",
    "ModelInfo",
    "Recipe",
    "TensorSpec",
    "UnknownModelError",
    "ZooError",
    "get",
    "get_discriminator",
    "info",
    "list_models",
    "register",
]
