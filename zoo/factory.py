"""``zoo.get``: a registered model, built, with the weights asked for loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.models import create, get_discriminator, info, list_models
from zoo.weights_io import load_run

if TYPE_CHECKING:
    import keras

__all__ = ["get", "get_discriminator", "info", "list_models"]


def get(name: str, *, weights: str | None = None, **overrides: Any) -> keras.Model:
    """Build registered model ``name`` as a functional Keras model.

    ``overrides`` reach the family builder (for example ``channels=3`` or
    ``upsample="resize_conv"``); an override the family does not take is a ZooError.
    ``weights`` is ``"default"`` (the shipped weights, hash-checked: see
    :mod:`zoo.pretrained`), a run folder of `zoo train`, or a ``.weights.h5`` / ``.keras``
    file; None leaves the builder's fresh weights.
    """
    if weights is None:
        return create(name, **overrides)
    return load_run(name, weights, overrides=overrides).model
