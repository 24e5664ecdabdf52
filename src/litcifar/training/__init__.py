"""Training: the LightningModule, its One Cycle schedule, the LR finder and progress reporting."""

from litcifar.training.lr_finder import LrFinderOptions, find_max_lr
from litcifar.training.module import CifarClassifier
from litcifar.training.schedule import build_one_cycle

__all__ = ["CifarClassifier", "LrFinderOptions", "build_one_cycle", "find_max_lr"]
