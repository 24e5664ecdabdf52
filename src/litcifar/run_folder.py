"""Run folders: one new folder per fit, never reused, holding everything the fit produced."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


def create_run_folder(root: Path | str, label: str) -> Path:
    """Create and return `root/<YYYYmmdd-HHMMSS>-<label>`, adding -2, -3... if that exists.

    `mkdir` without exist_ok is the atomic claim: two fits started in the same second
    still get different folders.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    for attempt in range(1, 1000):
        candidate = root / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"could not create a new run folder under {root}: 999 folders named {stem}* exist")


def write_json(path: Path, record: dict[str, Any]) -> Path:
    """Write `record` as indented JSON; NaN and infinity become null so any JSON reader accepts it."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        return value

    path.write_text(json.dumps(clean(record), indent=2) + "\n")
    return path
