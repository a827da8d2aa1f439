"""deconv-zoo: transposed-convolution networks, from registry to phone.

Public surface::

    import zoo
    zoo.list_models("fsrcnn*")        # names, wildcard include/exclude
    zoo.info("fsrcnn_x3")             # ModelInfo, without building
    model = zoo.get("fsrcnn_x3")      # a functional keras.Model
    disc = zoo.get_discriminator("dcgan_32")

Importing ``zoo`` is light; TensorFlow loads when the first model is built.
"""

from typing import Any

from zoo.errors import UnknownModelError, ZooError
from zoo.registry import (
    UPSAMPLE_MODES,
    ModelInfo,
    Recipe,
    TensorSpec,
    register,
)

__version__ = "0.1.0"

_FACTORY = ("get", "get_discriminator", "info", "list_models")  # zoo.factory: imports Keras

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


def __getattr__(name: str) -> Any:
    """``zoo.get`` and the other lookups, from :mod:`zoo.factory` on first use; ``TASKS``
    (the task names) from :mod:`zoo.tasks`."""
    if name == "TASKS":
        from zoo import tasks

        return tuple(tasks.TASKS)
    if name in _FACTORY:
        from zoo import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FACTORY, "TASKS"})
