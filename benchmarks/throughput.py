"""Training throughput: a Lightning fit against a plain PyTorch loop, same model, batch and data.

Both paths use the real CIFAR-10 through `Cifar10DataModule` (Albumentations in the
loader workers), the custom ResNet in channels_last, Adam and One Cycle stepped per
batch. They run alternately `--rounds` times in one process, and the ratio of the
median images/s is the result, so machine drift affects both alike.

    python benchmarks/throughput.py --width 0.25 --batch_size 256 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from litcifar.data.datamodule import Cifar10DataModule  # noqa: E402
from litcifar.models import create_model  # noqa: E402
from litcifar.training.module import CifarClassifier  # noqa: E402
from litcifar.training.schedule import build_one_cycle  # noqa: E402


def plain_loop(datamodule: Cifar10DataModule, width: float, warmup: int, steps: int) -> float:
    """Return images/s of a hand-written training loop over `steps` batches after `warmup`."""
    model = create_model("custom_resnet", width=width).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = build_one_cycle(optimizer, max_lr=1e-3, total_steps=warmup + steps)
    images_seen, start = 0, None
    for step, (images, labels) in enumerate(datamodule.train_dataloader()):
        if step == warmup:
            start, images_seen = time.perf_counter(), 0
        if step == warmup + steps:
            break
        loss = F.cross_entropy(model(images.contiguous(memory_format=torch.channels_last)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        images_seen += len(labels)
    return images_seen / (time.perf_counter() - start)


class _Timer(pl.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None
        self.images = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            self.images += len(batch[1])
            self.end = time.perf_counter()


def lightning_fit(datamodule: Cifar10DataModule, width: float, warmup: int, steps: int) -> float:
    """Return images/s of `Trainer.fit` (no validation, logging or checkpoints) over the same steps."""
    model = CifarClassifier(width=width, max_lr=1e-3)
    timer = _Timer(warmup)
    trainer = pl.Trainer(
        max_steps=warmup + steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(model, datamodule=datamodule)
    return timer.images / (timer.end - timer.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25, help="channel multiplier of the custom ResNet")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60, help="timed batches per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches at the start of each round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each path")
    parser.add_argument("--num_workers", type=int, default=None, help="loader processes (default: cores - 1)")
    args = parser.parse_args()

    datamodule = Cifar10DataModule(batch_size=args.batch_size, num_workers=args.num_workers)
    datamodule.prepare_data()
    datamodule.setup("fit")
    plain, lightning = [], []
    for _ in range(args.rounds):
        plain.append(plain_loop(datamodule, args.width, args.warmup, args.steps))
        lightning.append(lightning_fit(datamodule, args.width, args.warmup, args.steps))
    result = {
        "width": args.width,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "rounds": args.rounds,
        "num_workers": datamodule.num_workers,
        "torch_threads": torch.get_num_threads(),
        "plain_images_per_s": [round(v, 1) for v in plain],
        "lightning_images_per_s": [round(v, 1) for v in lightning],
        "lightning_over_plain": round(statistics.median(lightning) / statistics.median(plain), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
