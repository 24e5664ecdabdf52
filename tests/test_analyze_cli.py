"""`litcifar analyze` on a checkpoint trained for a few steps on the real CIFAR-10."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest

from litcifar.cli import main
from litcifar.data.datamodule import Cifar10DataModule
from litcifar.training.module import CifarClassifier

FAST = ["--analysis.faithfulness_images", "16", "--analysis.faithfulness_percents", "[10, 30]", "--analysis.num_images", "9"]


@pytest.fixture(scope="module")
def trained_run(cifar, tmp_path_factory) -> Path:
    """A run folder with checkpoints/last.ckpt of a width-0.125 custom ResNet after 10 steps."""
    run_dir = tmp_path_factory.mktemp("run")
    pl.seed_everything(0)
    model = CifarClassifier(width=0.125, max_lr=0.01)
    datamodule = Cifar10DataModule(train_subset=1280, batch_size=128, num_workers=0)
    trainer = pl.Trainer(max_steps=10, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=run_dir)
    trainer.fit(model, datamodule=datamodule)
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    return run_dir


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run([sys.executable, "-m", "litcifar", *args], env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_writes_into_run_folder(trained_run, capsys):
    main(["analyze", "--ckpt_path", str(trained_run / "checkpoints" / "last.ckpt"), *FAST])
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {trained_run.resolve() / 'report.html'}"
    record = json.loads((trained_run / "analysis.json").read_text())
    assert record["test_images"] == 10_000
    assert len(record["misclassified"]) == 9
    for name in ("report.html", "gradcam.png", "faithfulness.png", "confusion_matrix.png", "augmentation.png"):
        assert (trained_run / name).is_file(), f"{name} missing"


@pytest.mark.slow
def test_out_folder_and_options(trained_run, tmp_path):
    out_dir = tmp_path / "elsewhere"
    main(["analyze", "--ckpt_path", str(trained_run / "checkpoints" / "last.ckpt"), "--out", str(out_dir), *FAST,
          "--analysis.layer", "layer2", "--analysis.method", "eigencam", "--analysis.image_weight", "0.3", "--device", "cpu"])
    record = json.loads((out_dir / "analysis.json").read_text())
    assert record["cam"] == {"layer": "layer2", "method": "eigencam", "image_weight": 0.3}
    assert (out_dir / "report.html").is_file()


def test_bad_layer_exits_2_before_writing(trained_run, tmp_path):
    out_dir = tmp_path / "out"
    result = _run_cli("analyze", "--ckpt_path", str(trained_run / "checkpoints" / "last.ckpt"), "--out", str(out_dir), "--analysis.layer", "layer9")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("litcifar: error: model has no layer 'layer9'")
    assert "Traceback" not in result.stderr
    assert not out_dir.exists()


def test_missing_checkpoint_exits_2(tmp_path):
    result = _run_cli("analyze", "--ckpt_path", str(tmp_path / "absent.ckpt"))
    assert result.returncode == 2
    assert "is not a file" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_options():
    result = _run_cli("analyze", "--help")
    assert result.returncode == 0
    for option in ("--ckpt_path", "--out", "--device", "--analysis.num_images", "--analysis.layer", "--analysis.method", "--analysis.image_weight"):
        assert option in result.stdout
