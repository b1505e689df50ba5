"""The scale-out example: two processes continue a minicnn checkpoint with PyTorch's DDP.

What it proves: ``python -m torch.distributed.run --nproc_per_node=2
examples/continue_in_pytorch.py`` (torchrun, gloo, CPU) converts a small minicnn checkpoint,
trains it a few steps with each rank on its own half of the training split, writes a minicnn
checkpoint back, and that checkpoint -- read by minicnn, scored on the validation split that
``minicnn report`` rebuilds from its metadata -- has exactly the accuracy PyTorch computed.
"""
import json
import os
import subprocess
import sys

import numpy as np

import minicnn as mc
from minicnn.data import Standardizer, leak_free_split, load_bundled
from minicnn.training import evaluate, load_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_checkpoint(path):
    """A small, untrained model on the bundled 64x64 data, with the metadata fit() would write."""
    ds = load_bundled()
    train, _, split = leak_free_split(ds, 0.2, 0)
    model = mc.Sequential([mc.Conv2D(1, 8, 3, stride=2, padding=1, rng=1), mc.BatchNorm2D(8),
                           mc.ReLU(), mc.MaxPool2D(2), mc.Conv2D(8, 8, 3, padding=1, rng=2),
                           mc.BatchNorm2D(8), mc.ReLU(), mc.GlobalAvgPool2D(),
                           mc.Dense(8, 4, rng=3)], input_shape=(1, 64, 64))
    meta = {"classes": list(ds.classes), "image_size": 64, "color": "grayscale",
            "input_shape": [1, 64, 64], "split": {"data": "bundled", **split},
            "preprocessing": Standardizer("dataset").fit(train.images).to_dict(),
            "training": {"label_smoothing": 0.1, "mixup": 0.2}}   # continued as it trained
    model.save(path, metadata=meta)
    return model


def test_two_process_torchrun_round_trip(torch, tmp_path):
    before = small_checkpoint(tmp_path / "small.npz")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "examples", "continue_in_pytorch.py"),
           "--checkpoint", str(tmp_path / "small.npz"), "--out", str(tmp_path / "back.npz"),
           "--max-steps", "8", "--lr", "3e-3", "--json"]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["world_size"] == 2 and result["steps"] == 8
    assert result["train_images_per_rank"] == [8 * 32, 8 * 32]     # each rank its own batches

    back = load_checkpoint(tmp_path / "back.npz")
    assert back.metadata["continued_in_pytorch"]["world_size"] == 2
    moved = [k for k in before.params if not np.array_equal(before.params[k], back.params[k])]
    assert len(moved) >= len(before.params) - 2                  # trained (conv biases before BN stay)
    from minicnn.viz.report import evaluation_data
    val, _ = evaluation_data(back.metadata)                      # what `minicnn report` scores
    mine = evaluate(back, val)
    assert mine["n"] == result["n_val"] == len(val)
    assert mine["accuracy"] == result["val_accuracy_pytorch"] == result["val_accuracy_minicnn"]
    predicted = np.asarray(mine["confusion_matrix"]).sum(axis=0)
    assert (predicted > 0).sum() >= 2, predicted                  # not one class for everything
