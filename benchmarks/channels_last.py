"""Throughput of the custom ResNet in NCHW (contiguous) against NHWC (channels_last).

Training: each step is forward, backward and an Adam step on one real normalised
CIFAR-10 batch. Inference: forward passes in eval mode without gradients. The two layouts
alternate `--rounds` times in one process, and each result is the ratio of the medians.

    python benchmarks/channels_last.py --width 0.25 --batch_size 256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from litcifar.analysis.image_batches import normalize_images  # noqa: E402
from litcifar.data.cifar10 import load_cifar10  # noqa: E402
from litcifar.models import create_model  # noqa: E402


def images_per_second(images: torch.Tensor, labels: torch.Tensor, width: float, channels_last: bool, steps: int) -> float:
    """Return training images/s over `steps` steps after 3 untimed ones."""
    torch.manual_seed(0)
    model = create_model("custom_resnet", width=width)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    images = images.contiguous(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(3 + steps):
        if step == 3:
            start = time.perf_counter()
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return len(labels) * steps / (time.perf_counter() - start)


def inference_images_per_second(images: torch.Tensor, width: float, channels_last: bool, steps: int) -> float:
    """Return eval-mode forward images/s over `steps` batches after 2 untimed ones."""
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model("custom_resnet", width=width).to(memory_format=layout).eval()
    images = images.contiguous(memory_format=layout)
    with torch.inference_mode():
        for step in range(2 + steps):
            if step == 2:
                start = time.perf_counter()
            model(images)
    return len(images) * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25, help="channel multiplier of the custom ResNet")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    arrays = load_cifar10()
    images = normalize_images(arrays.train_images[: args.batch_size])
    labels = torch.as_tensor(arrays.train_labels[: args.batch_size], dtype=torch.long)
    contiguous, channels_last = [], []
    inference: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        contiguous.append(images_per_second(images, labels, args.width, False, args.steps))
        channels_last.append(images_per_second(images, labels, args.width, True, args.steps))
        for layout in (False, True):
            inference[layout].append(inference_images_per_second(images, args.width, layout, args.steps))
    print(json.dumps({
        "width": args.width,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "contiguous_images_per_s": [round(v, 1) for v in contiguous],
        "channels_last_images_per_s": [round(v, 1) for v in channels_last],
        "channels_last_over_contiguous": round(statistics.median(channels_last) / statistics.median(contiguous), 3),
        "inference_contiguous_images_per_s": [round(v, 1) for v in inference[False]],
        "inference_channels_last_images_per_s": [round(v, 1) for v in inference[True]],
        "inference_channels_last_over_contiguous": round(
            statistics.median(inference[True]) / statistics.median(inference[False]), 3
        ),
    }, indent=2))


if __name__ == "__main__":
    main()
