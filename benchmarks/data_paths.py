"""Augmented-batch supply against training demand: the Albumentations loader, the
device-resident path run on the CPU, and the training step that consumes the batches.

Three rates in images/s, each measured `--rounds` times alternately in one process:
- albumentations: `Cifar10DataModule` train loader with its default workers, no model;
- device: `DeviceBatches` on the CPU (the same arrays, augmented a batch at a time);
- model: forward + backward + Adam step of the custom ResNet (channels_last) on one
  fixed batch, no loader.
The results are the ratios of the medians: loader supply / model demand (goal >= 3 on
2 cores) and device path / Albumentations loader.

    python benchmarks/data_paths.py --width 0.25 --batch_size 256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402

# The training-step timer of benchmarks/channels_last.py, beside this script.
from channels_last import images_per_second  # noqa: E402
from litcifar.data.datamodule import Cifar10DataModule  # noqa: E402
from litcifar.data.device_augment import DeviceBatches  # noqa: E402


def batches_per_second(batches, count: int) -> float:
    """Images/s of drawing `count` batches from an iterable, after one untimed batch."""
    iterator = iter(batches)
    next(iterator)
    images, start = 0, time.perf_counter()
    for _ in range(count):
        images += len(next(iterator)[1])
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25, help="channel multiplier of the custom ResNet")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40, help="timed batches per round for the data paths")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    datamodule = Cifar10DataModule(batch_size=args.batch_size)
    datamodule.prepare_data()
    datamodule.setup("fit")
    train = datamodule.train_set
    device = DeviceBatches(train.images, train.labels, args.batch_size, "cpu", augment=True)
    batch, labels = next(iter(device))
    rates: dict[str, list[float]] = {"albumentations": [], "device": [], "model": []}
    for _ in range(args.rounds):
        loader = datamodule.train_dataloader()
        rates["albumentations"].append(batches_per_second(loader, args.batches))
        del loader  # stop its workers before the next measurement
        rates["device"].append(batches_per_second(device, args.batches))
        rates["model"].append(images_per_second(batch, labels, args.width, channels_last=True, steps=args.steps))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(json.dumps({
        "width": args.width,
        "batch_size": args.batch_size,
        "loader_workers": datamodule.num_workers,
        "torch_threads": torch.get_num_threads(),
        **{f"{name}_images_per_s": [round(v, 1) for v in values] for name, values in rates.items()},
        "albumentations_over_model": round(medians["albumentations"] / medians["model"], 2),
        "device_over_albumentations": round(medians["device"] / medians["albumentations"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
