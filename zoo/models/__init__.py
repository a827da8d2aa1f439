"""Every family of the zoo, registered; add a family with one line in the import below.

Importing this package imports Keras (seconds) and registers every variant, so the
lookups it re-exports see the whole zoo::

    from zoo.models import create, info, list_models
    model = create("fsrcnn_x3")   # fresh weights; zoo.get adds trained ones
"""

from zoo.models import (  # noqa: F401
    cae,
    cgan,
    dae,
    dcgan,
    deblur,
    deconvnet,
    espcn,
    fcn,
    fsrcnn,
    pix2pix,
    rednet,
    unet,
    vae,
)
from zoo.registry import create, get_discriminator, info, list_models

__all__ = ["create", "get_discriminator", "info", "list_models"]
