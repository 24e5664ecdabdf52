"""Checkpoint files: code in a pickle never runs, foreign networks are named, writes are atomic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from litcifar.models import create_model
from litcifar.training.checkpoint import (
    CheckpointError,
    SafeAtomicCheckpointIO,
    load_classifier,
    read_checkpoint,
)
from litcifar.training.module import CifarClassifier

TINY = {"arch": "custom_resnet", "width": 0.125}


class _RunsCommand:
    """Pickles to a call of os.system, as a malicious checkpoint would."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _lightning_checkpoint(model: CifarClassifier) -> dict:
    return {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "max_lr": 0.01, "global_step": 0}


@pytest.fixture
def crafted(tmp_path) -> tuple[Path, Path]:
    """A checkpoint whose unpickling would create `marker`."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "crafted.ckpt"
    checkpoint = _lightning_checkpoint(CifarClassifier(**TINY))
    checkpoint["payload"] = _RunsCommand(f"touch {marker}")
    torch.save(checkpoint, path)
    return path, marker


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run([sys.executable, "-m", "litcifar", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_crafted_checkpoint_runs_code_with_plain_pickle(crafted, tmp_path):
    path, marker = crafted
    script = f"import torch; torch.load({str(path)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert marker.exists(), "the crafted file should run code under an unrestricted load"


def test_crafted_checkpoint_rejected(crafted):
    path, marker = crafted
    with pytest.raises(CheckpointError, match="was rejected: it contains objects other than tensors"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("subcommand", ["fit", "test", "validate"])
def test_crafted_checkpoint_rejected_by_cli(crafted, tmp_path, subcommand):
    path, marker = crafted
    result = _cli(subcommand, "--ckpt_path", str(path), "--runs_dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"litcifar: error: checkpoint '{path}' was rejected" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()


def test_trainer_loads_through_safe_io(crafted):
    path, marker = crafted
    with pytest.raises(CheckpointError, match="was rejected"):
        SafeAtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [0, 100, 5000])
def test_truncated_checkpoint_rejected(tmp_path, cut):
    good = tmp_path / "good.ckpt"
    torch.save(_lightning_checkpoint(CifarClassifier(**TINY)), good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match="is not a readable PyTorch checkpoint"):
        read_checkpoint(truncated)


def test_plain_state_dict_rejected(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(CifarClassifier(**TINY).net.state_dict(), path)
    with pytest.raises(CheckpointError, match="has no state_dict"):
        read_checkpoint(path)


def test_load_classifier_round_trip(tmp_path):
    model = CifarClassifier(**TINY).eval()
    path = tmp_path / "model.ckpt"
    torch.save(_lightning_checkpoint(model), path)
    loaded = load_classifier(path)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(images), model(images))
    assert loaded.max_lr == 0.01
    assert not loaded.training


def test_other_class_count_named(tmp_path):
    model = CifarClassifier(**TINY)
    foreign = create_model("custom_resnet", num_classes=100, width=0.125)
    checkpoint = _lightning_checkpoint(model)
    checkpoint["state_dict"] = {f"net.{name}": tensor for name, tensor in foreign.state_dict().items()}
    path = tmp_path / "cifar100.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError) as error:
        load_classifier(path)
    message = str(error.value)
    assert "contains custom_resnet (width 0.125) with 100 classes" in message
    assert "but the model is custom_resnet (width 0.125) with 10 classes" in message


def test_other_architecture_named(tmp_path):
    checkpoint = _lightning_checkpoint(CifarClassifier(arch="resnet18", width=0.125))
    checkpoint["hyper_parameters"]["arch"] = "custom_resnet"  # settings that do not match the weights
    path = tmp_path / "mislabelled.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"contains custom_resnet \(width 0.125\) with 10 classes, but the model is custom_resnet"):
        load_classifier(path)


def test_trainer_restore_names_both_networks(tmp_path):
    foreign = CifarClassifier(arch="resnet18", width=0.125)
    path = tmp_path / "resnet18.ckpt"
    torch.save(_lightning_checkpoint(foreign), path)
    model = CifarClassifier(**TINY)
    with pytest.raises(CheckpointError, match=r"contains resnet18 \(width 0.125\) with 10 classes, but the model is custom_resnet \(width 0.125\)"):
        model.on_load_checkpoint(read_checkpoint(path))


def test_cli_requested_arch_differs(tmp_path):
    path = tmp_path / "custom.ckpt"
    torch.save(_lightning_checkpoint(CifarClassifier(**TINY)), path)
    result = _cli("test", "--ckpt_path", str(path), "--model.arch", "resnet18", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "contains custom_resnet (width 0.125) with 10 classes, but --model.arch resnet18 was requested" in result.stderr


def test_failed_write_keeps_previous(tmp_path, monkeypatch):
    io = SafeAtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)

    def broken_save(obj, stream):
        stream.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(path)["state_dict"]["w"], torch.zeros(3))
    assert [child.name for child in path.parent.iterdir()] == ["last.ckpt"]


@pytest.mark.parametrize("delay_s", [0.7, 1.3, 2.1])
def test_kill_during_writes_keeps_loadable(tmp_path, delay_s):
    path = tmp_path / "last.ckpt"
    script = textwrap.dedent(f"""
        import itertools, sys, torch
        from litcifar.training.checkpoint import SafeAtomicCheckpointIO
        io = SafeAtomicCheckpointIO()
        for value in itertools.count():
            io.save_checkpoint({{"state_dict": {{"w": torch.full((4_000_000,), float(value))}}}}, {str(path)!r})
            print(value, flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert process.stdout.readline().strip() == "0", "the writer did not start"
    time.sleep(delay_s)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    weights = read_checkpoint(path)["state_dict"]["w"]
    assert weights.shape == (4_000_000,)
    assert bool((weights == weights[0]).all()), "the checkpoint mixes two writes"
