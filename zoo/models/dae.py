"""DAE: the convolutional autoencoder trained as a denoiser.

Vincent, Larochelle, Bengio, Manzagol 2008, "Extracting and Composing Robust Features
with Denoising Autoencoders". The architecture is the CAE's own builder
(:func:`zoo.models.cae.cae`, not a copy): strided 4x4 convolutions down, stride-2
``Conv2DTranspose`` k4 s2 up, sigmoid out. What makes it a DAE is the objective:
the input is a corrupted image and the target the clean one (``zoo train`` adds the
noise; recipe options ``noise_sigma`` and ``patch_size``).

Input ``noisy``: (B, H, W, channels) in [0, 1] (the clean image plus Gaussian noise of
standard deviation ``noise_sigma / 255``, clipped to [0, 1]).
Output ``denoised``: (B, H, W, channels) in [0, 1] (sigmoid).

Decision: fully convolutional. A denoiser of photos should run at the photo's size,
so the variants use the CAE without a Dense code and with ``image_size=None``: no
Dense layer and no skip connection, so any H and W divisible by ``2**len(filters)``
work (8 for three levels). It trains on ``patch_size`` crops and exports at
``export_size``. The code is the encoder's last map: for ``dae_photos`` H/8 x W/8 x 128,
0.67 numbers per input value (undercomplete). ``dae_digits``' code (H/4 x W/4 x 64) is
overcomplete, which a DAE may be: the corruption, not the bottleneck, keeps it from
learning the identity (Vincent et al.'s point).

Deviations from the paper: Vincent et al. used fully connected layers and masking noise
on MNIST; here the layers are convolutional and the corruption additive Gaussian, the
usual setting for image denoising. Being skip-free, the DAE loses fine detail; the
deblurring family (:mod:`zoo.models.deblur`) shows the skip-connected alternative.
"""

from __future__ import annotations

import keras

from zoo.models.cae import cae
from zoo.registry import Recipe, TensorSpec, register

PAPER = (
    "Vincent, Larochelle, Bengio, Manzagol 2008, Extracting and Composing Robust Features "
    "with Denoising Autoencoders (ICML)"
)
EXPORT_SIZE = (256, 256)  # input size of exported photo denoisers


# === Variants ===


def _register(
    *,
    num_params: int,
    dataset: str,
    noise_sigma: float,
    patch_size: int,
    export_size: tuple[int, int],
    epochs: int,
    **arguments,
):
    """A fully convolutional CAE (the CAE's own builder) with the denoiser's tensor names."""
    shape = (None, None, arguments["channels"])
    return register(
        family="dae",
        family_builder=cae,
        arguments={"image_size": None, "input_name": "noisy", "output_name": "denoised"}
        | arguments,
        task="denoise",
        inputs=[TensorSpec("noisy", shape, description="noisy image in [0, 1]")],
        output=TensorSpec("denoised", shape, description="denoised image"),
        num_params=num_params,
        paper=PAPER,
        dataset=dataset,
        recipe=Recipe(
            epochs=epochs,
            batch_size=32,
            learning_rate=1e-3,
            loss="mse",
            options={"noise_sigma": noise_sigma, "patch_size": patch_size},
        ),
        export_size=export_size,
    )


@_register(
    num_params=331_075,
    dataset="photos",
    noise_sigma=25.0,
    patch_size=64,
    export_size=EXPORT_SIZE,
    epochs=50,
    channels=3,
    filters=(32, 64, 128),
)
def dae_photos(**overrides) -> keras.Model:
    """RGB photo denoiser (sigma 25 of 255), fully convolutional, 3 levels (32, 64, 128)."""


@_register(
    num_params=66_689,
    dataset="digits",
    noise_sigma=50.0,
    patch_size=32,
    export_size=(32, 32),
    epochs=30,
    channels=1,
    filters=(32, 64),
)
def dae_digits(**overrides) -> keras.Model:
    """Gray digit denoiser (sigma 50 of 255: high-contrast strokes), 2 levels (32, 64)."""


@_register(
    num_params=1_427,
    dataset="photos",
    noise_sigma=25.0,
    patch_size=32,
    export_size=(32, 32),
    epochs=1,
    channels=3,
    filters=(4, 8),
)
def dae_tiny(**overrides) -> keras.Model:
    """RGB, filters (4, 8), fully convolutional, for tests."""
