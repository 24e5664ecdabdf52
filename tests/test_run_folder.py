"""Run folders are new for every fit and metrics.json is plain JSON."""

from __future__ import annotations

import json
import math

from litcifar.run_folder import create_run_folder, write_json


def test_runs_never_share_a_folder(tmp_path):
    folders = [create_run_folder(tmp_path, "custom_resnet") for _ in range(5)]
    assert len(set(folders)) == 5
    assert all(folder.is_dir() and not any(folder.iterdir()) for folder in folders)
    assert all(folder.parent == tmp_path for folder in folders)


def test_existing_folder_kept_intact(tmp_path):
    first = create_run_folder(tmp_path, "resnet18")
    (first / "metrics.json").write_text("{}")
    second = create_run_folder(tmp_path, "resnet18")
    assert second != first
    assert (first / "metrics.json").read_text() == "{}"


def test_write_json_replaces_non_finite(tmp_path):
    path = write_json(tmp_path / "metrics.json", {"test_loss": math.nan, "nested": [math.inf, 1.5]})
    assert json.loads(path.read_text()) == {"test_loss": None, "nested": [None, 1.5]}
