"""The LightningModule: a `create_model` network, cross-entropy, Adam or SGD, One Cycle LR."""

from __future__ import annotations

import logging

import lightning.pytorch as pl
import torch
from torch.nn import functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from litcifar.data.arrays import CLASSES
from litcifar.errors import InvalidSettingError
from litcifar.models import MODELS, count_parameters, create_model
from litcifar.training.checkpoint import check_state_dict_fits
from litcifar.training.schedule import build_one_cycle
from litcifar.training.tta import TTA_MODES, tta_logits

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
TRAIN_EPOCH_METRICS = ("train_acc", "train_loss")


def gather_in_dataset_order(
    module: pl.LightningModule, probs: torch.Tensor, targets: torch.Tensor, dataset_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather every rank's test outputs and put them back in dataset order.

    Lightning gives each rank a DistributedSampler without shuffling, so rank r gets
    items r, r + W, r + 2W... and every rank gets the same count (the last items repeat
    to pad). Interleaving the gathered (W, n, ...) tensors restores the order, and the
    padding is cut off at `dataset_size`.
    """
    gathered_probs = module.all_gather(probs.to(module.device))  # (W, n, C)
    gathered_targets = module.all_gather(targets.to(module.device))  # (W, n)
    ordered_probs = gathered_probs.transpose(0, 1).reshape(-1, probs.shape[1])[:dataset_size]
    ordered_targets = gathered_targets.transpose(0, 1).reshape(-1)[:dataset_size]
    return ordered_probs.cpu(), ordered_targets.cpu()


class CifarClassifier(pl.LightningModule):
    """Image classifier trained with One Cycle LR, stepped every batch.

    Args:
        arch: network: custom_resnet (the cifar10-fast ResNet-9) or resnet18.
        width: channel multiplier (1.0 is the published network).
        optimizer: "adam" (the classic recipe) or "sgd" (Nesterov momentum).
        max_lr: peak learning rate of the One Cycle schedule; None runs the LR range
            test before fit (the CLI does this) and uses its suggestion.
        weight_decay: L2 penalty added by the optimizer.
        momentum: SGD momentum (ignored by Adam).
        label_smoothing: cross-entropy label smoothing in [0, 1).
        pct_start: fraction of the steps spent rising to max_lr; 0.2 peaks at the end of
            epoch 5 of 25. The fall to the final LR is linear with no third phase.
        div_factor: initial LR = max_lr / div_factor.
        final_div_factor: final LR = initial LR / final_div_factor.
        channels_last: keep weights and inputs in NHWC layout; faster convolutions on
            CPU (see docs/benchmarks.md) and on tensor-core GPUs.
        logit_scale: multiply the logits by this before the loss and softmax;
            cifar10-fast uses 0.125 with SGD, which keeps early updates small.
        tta: test-time augmentation for validation, test and predict: none, flip
            (2 passes) or flip_shift (6 passes); see `litcifar.training.tta`.
        compile: compile the network with `torch.compile` when training starts
            (slow first steps, faster later ones; needs a C++ compiler on CPU).
    """

    def __init__(
        self,
        arch: str = "custom_resnet",
        width: float = 1.0,
        optimizer: str = "adam",
        max_lr: float | None = None,
        weight_decay: float = 1e-4,
        momentum: float = 0.9,
        label_smoothing: float = 0.0,
        pct_start: float = 0.2,
        div_factor: float = 100.0,
        final_div_factor: float = 100.0,
        channels_last: bool = True,
        logit_scale: float = 1.0,
        tta: str = "none",
        compile: bool = False,
    ) -> None:
        super().__init__()
        if arch not in MODELS:
            raise InvalidSettingError(f"unknown arch {arch!r}: choose one of {', '.join(sorted(MODELS))}")
        if optimizer not in OPTIMIZERS:
            raise InvalidSettingError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if max_lr is not None and not max_lr > 0:
            raise InvalidSettingError(f"max_lr must be greater than 0, or null to run the LR finder; got {max_lr}")
        if not 0.0 <= label_smoothing < 1.0:
            raise InvalidSettingError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if weight_decay < 0:
            raise InvalidSettingError(f"weight_decay must be >= 0, got {weight_decay}")
        if not 0.0 < pct_start < 1.0:
            raise InvalidSettingError(f"pct_start must be in (0, 1), got {pct_start}")
        if div_factor <= 0 or final_div_factor <= 0:
            raise InvalidSettingError(f"div_factor and final_div_factor must be > 0, got {div_factor}, {final_div_factor}")
        if not logit_scale > 0:
            raise InvalidSettingError(f"logit_scale must be greater than 0 (1.0 leaves the logits as they are), got {logit_scale}")
        if tta not in TTA_MODES:
            raise InvalidSettingError(f"unknown tta {tta!r}: choose one of {', '.join(TTA_MODES)}")
        self.save_hyperparameters()
        self.max_lr = max_lr
        num_classes = len(CLASSES)
        self.net = create_model(arch, num_classes=num_classes, width=width)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.num_parameters = count_parameters(self.net)
        self.net_num_classes = num_classes
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.train_loss = MeanMetric()
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self._test_probs: list[torch.Tensor] = []
        self._test_targets: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        logits = self.net(images)
        if self.hparams.logit_scale != 1.0:
            logits = logits * self.hparams.logit_scale
        return logits

    def evaluation_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for validation, test and predict, with the configured test-time augmentation."""
        return tta_logits(self, images, self.hparams.tta)

    def configure_model(self) -> None:
        if self.hparams.compile and not getattr(self, "_compiled", False):
            self.net.compile()  # in place: parameter names and Grad-CAM layer names stay the same
            self._compiled = True

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.hparams.label_smoothing)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        logits = self(images)
        loss = self._loss(logits, targets)
        self.train_acc(logits, targets)
        self.log("loss", loss, prog_bar=True, logger=False)  # per-step value in the progress bar
        self.train_loss(loss.detach(), weight=len(targets))
        self.log("train_loss", self.train_loss, on_step=False, on_epoch=True)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        logits = self.evaluation_logits(images)
        self.val_acc(logits, targets)
        self.log("val_loss", self._loss(logits, targets), prog_bar=True, batch_size=len(targets), sync_dist=True)
        self.log("val_acc", self.val_acc, prog_bar=True)

    def on_test_epoch_start(self) -> None:
        self._test_probs.clear()
        self._test_targets.clear()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        logits = self.evaluation_logits(images)
        self.test_acc(logits, targets)
        self.log("test_loss", self._loss(logits, targets), batch_size=len(targets), sync_dist=True)
        self.log("test_acc", self.test_acc)
        # Kept for the analysis of wrong predictions, in loader order (the test loader does not shuffle).
        self._test_probs.append(logits.float().softmax(dim=1).cpu())
        self._test_targets.append(targets.cpu())

    def on_test_epoch_end(self) -> None:
        if self.trainer.world_size > 1 and self._test_probs:
            loaders = self.trainer.test_dataloaders
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            probs, targets = gather_in_dataset_order(self, torch.cat(self._test_probs), torch.cat(self._test_targets), len(loader.dataset))
            self._test_probs[:] = [probs]
            self._test_targets[:] = [targets]

    def test_predictions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (probabilities (N, C), targets (N,)) of the last test run, in test-set order."""
        if not self._test_probs:
            raise RuntimeError("no test predictions: run trainer.test first")
        return torch.cat(self._test_probs), torch.cat(self._test_targets)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.evaluation_logits(images).float().softmax(dim=1)

    def configure_optimizers(self):
        # The LR range test calls this too and overrides the LR and schedule it returns,
        # so any positive starting value serves while max_lr is still unknown.
        if self.max_lr is None and not getattr(self, "lr_search_running", False):
            raise InvalidSettingError(
                "max_lr is not set: give --model.max_lr, or let the litcifar CLI run the LR finder first"
            )
        max_lr = self.max_lr if self.max_lr is not None else 1e-3
        params = self.net.parameters()
        if self.hparams.optimizer == "adam":
            optimizer: torch.optim.Optimizer = torch.optim.Adam(
                params, lr=max_lr, weight_decay=self.hparams.weight_decay
            )
        else:
            optimizer = torch.optim.SGD(
                params,
                lr=max_lr,
                momentum=self.hparams.momentum,
                nesterov=self.hparams.momentum > 0,
                weight_decay=self.hparams.weight_decay,
            )
        scheduler = build_one_cycle(
            optimizer,
            max_lr=max_lr,
            total_steps=int(self.trainer.estimated_stepping_batches),
            pct_start=self.hparams.pct_start,
            div_factor=self.hparams.div_factor,
            final_div_factor=self.hparams.final_div_factor,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["max_lr"] = self.max_lr  # the LR finder's choice, not in the init hyperparameters
        # The epoch's running training metrics, so a fit resumed mid-epoch reports the whole epoch.
        checkpoint["train_metric_states"] = {
            name: {key: value.detach().clone() for key, value in getattr(self, name).metric_state.items()}
            for name in TRAIN_EPOCH_METRICS
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Lightning calls this before loading the weights, so a foreign network fails with both names.
        if "state_dict" in checkpoint:
            path = getattr(self._trainer, "ckpt_path", None) or "(in memory)"
            check_state_dict_fits(self, checkpoint, path, self.describe_network())
        if checkpoint.get("max_lr") is not None:
            self.max_lr = checkpoint["max_lr"]
        for name, states in checkpoint.get("train_metric_states", {}).items():
            if name in TRAIN_EPOCH_METRICS:
                metric = getattr(self, name)
                for key, value in states.items():
                    setattr(metric, key, value.to(metric.device))
                metric._update_count = 1  # torchmetrics computes only after an update

    def describe_network(self) -> str:
        """Return e.g. "custom_resnet (width 0.25) with 10 classes", as checkpoint errors name networks."""
        return f"{self.hparams.arch} (width {self.hparams.width:g}) with {self.net_num_classes} classes"

    def describe(self) -> str:
        """Return a one-line summary: architecture, width and parameter count."""
        return f"{self.hparams.arch} (width {self.hparams.width:g}, {self.num_parameters:,} parameters)"
