"""Training throughput per model family, and the zoo's loop against a keras-io style `fit`.

For one full model per family, trains 2 epochs of ``--steps`` steps with ``zoo.train.train``
and reads the second epoch's ``steps_per_second`` from the run's metrics.csv (the first
epoch pays for tracing), with and without XLA (``jit_compile``). In the same run, trains
the same DCGAN (dcgan_32 on digits, same batch) with a ``keras.Model`` subclass whose
``train_step`` is overridden and ``Model.fit`` drives it (the keras.io DCGAN example's
pattern), timed the same way. Writes JSON and Markdown under ``benchmarks/results/``.

    python benchmarks/train_throughput.py [--steps 20] [--batch 32] [--models dcgan_32,...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FAMILY_MODELS = (
    "dcgan_32",
    "cgan_32",
    "pix2pix_64",
    "fcn8s",
    "deconvnet",
    "unet",
    "fsrcnn_x3",
    "espcn_x3",
    "cae_digits",
    "dae_digits",
    "vae_digits",
    "deblur",
)
RESULTS = Path(__file__).resolve().parent / "results"


def zoo_steps_per_second(name: str, *, steps: int, batch: int, jit: bool) -> float:
    """Second-epoch steps/s of ``zoo.train.train`` (excludes validation and checkpoints)."""
    from zoo.train import train

    with tempfile.TemporaryDirectory() as folder:
        out = train(
            name,
            epochs=2,
            steps_per_epoch=steps,
            batch_size=batch,
            out=Path(folder) / "run",
            jit_compile=jit,
            checkpoint_every=0,
            quiet=True,
        )
        with (out / "metrics.csv").open() as f:
            rows = list(csv.DictReader(f))
    return float(rows[-1]["steps_per_second"])


def keras_fit_steps_per_second(*, steps: int, batch: int) -> float:
    """The same DCGAN step through `Model.fit` with an overridden `train_step`."""
    import keras
    import tensorflow as tf

    import zoo
    from zoo import data

    keras.utils.set_random_seed(0)
    generator = zoo.get("dcgan_32")
    discriminator = zoo.get_discriminator("dcgan_32")
    latent_dim = generator.inputs[0].shape[-1]

    class FitGAN(keras.Model):
        def __init__(self):
            super().__init__()
            self.generator, self.discriminator = generator, discriminator

        def compile(self, d_optimizer, g_optimizer):
            super().compile()
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

        def train_step(self, real):
            z = tf.random.uniform((tf.shape(real)[0], latent_dim), -1.0, 1.0)
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = self.generator(z, training=True)
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
                g_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
            d_vars = self.discriminator.trainable_variables
            g_vars = self.generator.trainable_variables
            self.d_optimizer.apply_gradients(
                zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=True)
            )
            self.g_optimizer.apply_gradients(
                zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=True)
            )
            return {"d_loss": d_loss, "g_loss": g_loss}

    images = data.load("digits", image_size=32).images * 2.0 - 1.0
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=0)
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = FitGAN()
    model.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started

    timer = EpochTimer()
    model.fit(dataset, epochs=2, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return steps / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--models", default=",".join(FAMILY_MODELS))
    args = parser.parse_args()

    import zoo
    from zoo.errors import ZooError

    rows = []
    for name in args.models.split(","):
        eager = zoo_steps_per_second(name, steps=args.steps, batch=args.batch, jit=False)
        try:
            xla = zoo_steps_per_second(name, steps=args.steps, batch=args.batch, jit=True)
        except ZooError as error:  # XLA lacks a kernel this model's gradient needs
            print(f"{name}: no XLA: {error}", flush=True)
            xla = float("nan")
        rows.append(
            {
                "model": name,
                "family": zoo.info(name).family,
                "params": zoo.info(name).num_params,
                "steps_per_s": round(eager, 3),
                "images_per_s": round(eager * args.batch, 1),
                "steps_per_s_xla": None if xla != xla else round(xla, 3),
                "xla_speedup": None if xla != xla else round(xla / eager, 2),
            }
        )
        print(rows[-1], flush=True)

    fit = keras_fit_steps_per_second(steps=args.steps, batch=args.batch)
    zoo_dcgan = next((r["steps_per_s"] for r in rows if r["model"] == "dcgan_32"), None)
    if zoo_dcgan is None:
        zoo_dcgan = zoo_steps_per_second("dcgan_32", steps=args.steps, batch=args.batch, jit=False)
    comparison = {
        "model": "dcgan_32",
        "zoo_loop_steps_per_s": round(zoo_dcgan, 3),
        "keras_fit_steps_per_s": round(fit, 3),
        "ratio_zoo_over_fit": round(zoo_dcgan / fit, 2),
    }
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "steps": args.steps,
        "batch": args.batch,
        "families": rows,
        "dcgan_zoo_vs_keras_fit": comparison,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "train_throughput.md").write_text(to_markdown(report))
    print(to_markdown(report))


def to_markdown(report: dict) -> str:
    lines = [
        f"Training throughput, {report['machine']}, batch {report['batch']}, "
        f"second epoch of {report['steps']} steps.",
        "",
        "| model | family | params | steps/s | images/s | steps/s XLA | XLA speed-up |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["families"]:
        lines.append(
            f"| {r['model']} | {r['family']} | {r['params']:,} | {r['steps_per_s']} | "
            f"{r['images_per_s']} | {r['steps_per_s_xla'] or 'fails'} | "
            f"{str(r['xla_speedup']) + 'x' if r['xla_speedup'] else '-'} |"
        )
    c = report["dcgan_zoo_vs_keras_fit"]
    lines += [
        "",
        f"DCGAN (dcgan_32): zoo loop {c['zoo_loop_steps_per_s']} steps/s, keras-io style "
        f"`fit` {c['keras_fit_steps_per_s']} steps/s, ratio {c['ratio_zoo_over_fit']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
