"""Training: ``zoo.train.train("fsrcnn_x3")`` or ``zoo train fsrcnn_x3``.

One objective per task (``objectives``, ``adversarial``), one custom loop under any
tf.distribute strategy (``loop``, ``strategy``), a run directory with checkpoints,
metrics, TensorBoard events, sample grids, the final model and a summary.
"""

from zoo.train.config import STRATEGIES, TrainConfig
from zoo.train.loop import train

__all__ = ["STRATEGIES", "TrainConfig", "train"]
