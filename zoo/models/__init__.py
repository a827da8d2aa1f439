"""Family files; importing one registers its variants. Add a family with one line here."""

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
    unet,
    vae,
)
