"""to_torch / from_torch: minicnn models as plain PyTorch modules, and back, exactly.

What it proves:
- ``to_torch(m)`` computes what ``m`` computes: float64, eval mode, relative 1e-10, for every
  layer type on its own, for models holding all of them, and for the report's three models;
- ``from_torch(to_torch(m))`` has bit-identical parameters and buffers (from the module, from
  its state_dict with the architecture, and from a DDP-prefixed state_dict);
- a module trained further in PyTorch comes back with its new weights and running statistics
  (minicnn's output equals PyTorch's afterwards);
- what has no minicnn counterpart is a ValueError naming the module and why;
- ``minicnn export --format torch`` writes weights + module code that run with PyTorch alone;
- a model brought back by ``from_torch`` saves as a checkpoint that ``minicnn evaluate`` and
  ``minicnn report`` read, and evaluate's accuracy equals PyTorch's on the same images.
"""
import json
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
from minicnn import models
from minicnn.data import Standardizer, load_folder
from minicnn.export import from_torch, save_torch, to_torch
from minicnn.export.torch_modules import standardize

from helpers import IMAGE_CLASSES, every_layer_models, perturb, write_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rel_err(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def torch_forward(torch, module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def assert_same_state(a, b):
    for kind in ("params", "buffers"):
        da, db = getattr(a, kind), getattr(b, kind)
        assert list(da) == list(db)
        for k in da:
            assert da[k].dtype == db[k].dtype and np.array_equal(da[k], db[k]), (kind, k)


def single_layers():
    """(layer, per-sample input shape): each layer type alone, in float64."""
    f = dict(dtype=np.float64)
    block = mc.ResidualBlock.basic(3, 5, stride=2, rng=1, **f)
    ident = mc.ResidualBlock(mc.Sequential([mc.Conv2D(3, 3, 3, padding=1, rng=2, **f)]))
    return [(mc.Conv2D(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), rng=0, **f), (3, 9, 8)),
            (mc.Conv2D(3, 4, 1, bias=False, rng=0, **f), (3, 5, 5)),
            (mc.BatchNorm2D(3, eps=1e-3, **f), (3, 5, 4)), (mc.ReLU(**f), (3, 4, 4)),
            (mc.Dropout(0.4, **f), (3, 4, 4)), (mc.MaxPool2D(3, 2, 1, **f), (3, 9, 7)),
            (mc.MaxPool2D((2, 3), (2, 1), (1, 0), **f), (3, 6, 6)),
            (mc.GlobalAvgPool2D(**f), (3, 5, 6)), (mc.Flatten(**f), (3, 2, 4)),
            (mc.Dense(7, 4, rng=0, **f), (7,)), (block, (3, 8, 8)), (ident, (3, 4, 4))]


@pytest.mark.parametrize("case", range(len(single_layers())))
def test_every_layer_type_matches_in_float64(torch, case):
    layer, shape = single_layers()[case]
    rng = np.random.default_rng(case)
    if layer.params or layer.buffers:
        perturb(layer, rng)
    x = rng.standard_normal((3, *shape))
    got = torch_forward(torch, to_torch(layer), x)
    assert rel_err(got, layer.forward(x)) < 1e-10


MODELS = [("every_layer_a", None), ("every_layer_b", None),
          ("mini_resnet", 64), ("cnn5", 64), ("mini_vgg", 64)]


def build(name, size):
    if name.startswith("every_layer"):
        return every_layer_models(dtype=np.float64)[name.endswith("b")]
    model = models.build(name, input_shape=(1, size, size), dtype=np.float64)
    return perturb(model, np.random.default_rng(0))


@pytest.mark.parametrize("name,size", MODELS)
def test_models_match_and_round_trip_bit_for_bit(torch, name, size):
    model = build(name, size)
    module = to_torch(model)
    assert not module.training and next(module.parameters()).dtype == torch.float64
    x = np.random.default_rng(1).standard_normal((2, *model.input_shape))
    assert rel_err(torch_forward(torch, module, x), model.forward(x)) < 1e-10
    back = from_torch(module)
    assert_same_state(model, back)
    assert back.get_config()["layers"] == model.get_config()["layers"]
    via_state = from_torch(module.state_dict(), architecture=model)
    assert_same_state(model, via_state) and via_state.metadata == model.metadata
    ddp_state = {f"module.{k}": v for k, v in module.state_dict().items()}
    assert_same_state(model, from_torch(ddp_state, architecture=model))
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(to_torch(model))   # as on GPUs
    assert_same_state(model, from_torch(synced))


def test_training_in_torch_comes_back(torch, tmp_path):
    """Train a few steps in PyTorch (weights and running statistics change), then come back."""
    model = every_layer_models(dtype=np.float64)[0]
    before = {k: v.copy() for k, v in {**model.params, **model.buffers}.items()}
    model.save(tmp_path / "m.npz", metadata={"classes": list("abcde")})
    module = to_torch(model).train()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(4, 2, 13, 11, generator=gen, dtype=torch.float64)
        loss = torch.nn.functional.cross_entropy(module(x), torch.tensor([0, 1, 2, 3]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    module.eval()
    back = from_torch(module.state_dict(), architecture=str(tmp_path / "m.npz"))
    assert back.metadata == {"classes": list("abcde")} and back.dtype == np.float64
    changed = [k for k, v in {**back.params, **back.buffers}.items() if not np.allclose(v, before[k])]
    assert set(before) - set(changed) == {"0.b"}   # all moved but a bias that BatchNorm cancels
    x = np.random.default_rng(2).standard_normal((3, 2, 13, 11))
    assert rel_err(back.forward(x), torch_forward(torch, module, x)) < 1e-10
    assert_same_state(back, from_torch(module))


def test_what_has_no_counterpart_is_named(torch):
    nn = torch.nn
    with pytest.raises(ValueError, match=r"1 \(Tanh\) has no minicnn counterpart"):
        from_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh()))
    with pytest.raises(ValueError, match=r"0 \(Conv2d\) cannot become a minicnn layer: groups=2"):
        from_torch(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)))
    with pytest.raises(ValueError, match="ceil_mode=True"):
        from_torch(nn.MaxPool2d(2, ceil_mode=True))
    with pytest.raises(ValueError, match="children must be named 0, 1, 2"):
        from_torch(nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3))))
    with pytest.raises(ValueError, match="a state_dict holds no architecture"):
        from_torch({"0.weight": torch.zeros(2, 1, 3, 3)})
    model = every_layer_models()[1]
    state = to_torch(model).state_dict()
    state.pop("4.bias")
    with pytest.raises(ValueError, match=r"missing \['4.bias'\]"):
        from_torch(state, architecture=model)
    with pytest.raises(ValueError, match="float16"):
        from_torch(to_torch(model).half())


def test_exported_code_runs_with_pytorch_alone(torch, tmp_path):
    from minicnn.cli import main
    model = every_layer_models()[0]
    meta = {"classes": list("abcde"), "preprocessing": {"mode": "dataset", "eps": 1e-7,
                                                        "mean": [0.2, 0.4], "std": [0.1, 0.3]}}
    model.save(tmp_path / "best.npz", metadata=meta)
    out = tmp_path / "export"
    out.mkdir()
    assert main(["export", "--checkpoint", str(tmp_path / "best.npz"), "--format", "torch",
                 "--out", str(out / "net.pt")]) == 0
    pixels = np.random.default_rng(0).integers(0, 256, (4, 2, 13, 11), dtype=np.uint8)
    np.save(out / "pixels.npy", pixels)
    code = ("import sys, json, numpy as np, torch, net; m = net.load(); "
            "x = net.standardize(np.load('pixels.npy'), net.METADATA['preprocessing']); "
            "np.save('logits.npy', m(x).detach().numpy()); "
            "print(json.dumps([m.training, net.METADATA['classes'], 'minicnn' in sys.modules]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=out, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, list("abcde"), False]
    want = model.forward(Standardizer.from_dict(meta["preprocessing"]).transform(pixels))
    assert rel_err(np.load(out / "logits.npy"), want) < 1e-5
    with pytest.raises(ValueError, match="give the weights file a name such as model.pt"):
        save_torch(model, out / "net.py")


def test_brought_back_model_is_a_checkpoint_the_cli_reads(torch, tmp_path, capsys):
    from minicnn.cli import main
    rng = np.random.default_rng(5)
    write_images(tmp_path / "data", 6, seed=5)              # 2 classes of 20x20 PNGs
    model = mc.Sequential([mc.Conv2D(1, 4, 3, padding=1, rng=1), mc.BatchNorm2D(4), mc.ReLU(),
                           mc.MaxPool2D(2), mc.GlobalAvgPool2D(), mc.Dense(4, 2, rng=2)],
                          input_shape=(1, 20, 20))
    perturb(model, rng)
    pre = {"mode": "dataset", "eps": 1e-7, "mean": [0.5], "std": [0.29]}
    meta = {"classes": IMAGE_CLASSES, "image_size": 20, "color": "grayscale", "preprocessing": pre,
            "input_shape": [1, 20, 20]}
    module = to_torch(model)
    back = from_torch(module, metadata=meta)
    back.save(tmp_path / "back.npz", metadata=back.metadata)
    ds = load_folder(str(tmp_path / "data"), image_size=20, color="grayscale")
    with torch.no_grad():
        pred = module(standardize(ds.images, pre)).argmax(1).numpy()
    torch_acc = float((pred == np.asarray(ds.labels)).mean())
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "back.npz"), "--data",
                 str(tmp_path / "data"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == torch_acc
    assert main(["report", "--checkpoint", str(tmp_path / "back.npz"), "--data",
                 str(tmp_path / "data"), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file()


def test_standardize_divides_a_constant_channel_by_one(torch):
    """As Standardizer: a channel constant over the training images (std 0) is divided by 1."""
    images = np.random.default_rng(4).integers(0, 256, (8, 2, 8, 8), dtype=np.uint8)
    images[:, 0] = 90
    pre = Standardizer("dataset").fit(images).to_dict()
    pixels = np.random.default_rng(5).integers(0, 256, (3, 2, 8, 8), dtype=np.uint8)
    np.testing.assert_allclose(standardize(pixels, pre).numpy(),
                               Standardizer.from_dict(pre).transform(pixels), rtol=1e-6, atol=1e-6)
