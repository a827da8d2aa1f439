"""Training: ``zoo.train.train("fsrcnn_x3")`` or ``zoo train fsrcnn_x3``.

One objective per task (``objectives``, ``adversarial``), one custom loop under any
tf.distribute strategy (``loop``, ``strategy``), a run directory with checkpoints,
metrics, TensorBoard events, sample grids, the final model and a summary.
"""

from typing import Any

from zoo.train.config import STRATEGIES, TrainConfig

__all__ = ["STRATEGIES", "TrainConfig", "train"]


def __getattr__(name: str) -> Any:
    """``train`` from :mod:`zoo.train.loop` on first use (it imports Keras)."""
    if name == "train":
        from zoo.train.loop import train

        return train
    raise AttributeError(f"module 'zoo.train' has no attribute {name!r}")
