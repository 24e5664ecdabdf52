"""Bad settings stop `litcifar fit` at startup, before any data is fetched or any run folder exists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from litcifar.data.datamodule import check_data_dir
from litcifar.errors import InvalidSettingError


def _fit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    empty_data = tmp_path / "no-data"
    empty_data.mkdir(exist_ok=True)
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "LITCIFAR_DATA": str(empty_data)}
    env.pop("LITCIFAR_RUN_DIR", None)
    command = [sys.executable, "-m", "litcifar", "fit", "--runs_dir", str(tmp_path / "runs"), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trainer.max_epochs", "-5"], "trainer.max_epochs must be at least 1, got -5"),
        (["--trainer.max_epochs", "0"], "trainer.max_epochs must be at least 1, got 0"),
        (["--data.batch_size", "0"], "batch_size must be at least 1, got 0"),
        (["--data.batch_size", "-3"], "batch_size must be at least 1, got -3"),
        (["--model.width", "0"], "width must be greater than 0"),
        (["--model.width", "-0.5"], "width must be greater than 0"),
        (["--model.arch", "vgg16"], "unknown arch 'vgg16': choose one of custom_resnet, resnet18"),
        (["--model.optimizer", "rmsprop"], "unknown optimizer 'rmsprop': choose one of adam, sgd"),
        (["--model.max_lr", "0"], "max_lr must be greater than 0, or null to run the LR finder; got 0"),
        (["--model.max_lr", "-0.1"], "max_lr must be greater than 0, or null to run the LR finder; got -0.1"),
        (["--checkpoint_every_n_steps", "-1"], "checkpoint_every_n_steps must be >= 0"),
        (["--data.data_dir", "{file}"], "is not a folder"),
        (["--data.data_dir", "{file}/sub"], "does not exist and cannot be created"),
    ],
)
def test_bad_setting_rejected_before_data(tmp_path, args, message):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    args = [arg.replace("{file}", str(a_file)) for arg in args]
    result = _fit(tmp_path, *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"litcifar: error: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "CIFAR-10 source" not in result.stderr, "data was looked for before the setting was checked"
    assert list((tmp_path / "no-data").iterdir()) == []
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder whatever its permissions")
def test_unreadable_data_dir_rejected(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o000)
    try:
        with pytest.raises(InvalidSettingError, match="is not readable by this user"):
            check_data_dir(folder)
    finally:
        folder.chmod(0o755)


def test_missing_data_dir_accepted(tmp_path):
    check_data_dir(tmp_path / "new" / "folder")
