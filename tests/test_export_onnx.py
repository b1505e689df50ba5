"""to_onnx: onnxruntime, running the exported file, computes what minicnn computes.

What it proves:
- for the report's three models (64x64 and 150x150) and for models holding every layer type,
  onnxruntime's float32 output equals minicnn's to a relative 1e-4, at batch sizes 1 and 7 (the
  batch axis is symbolic), both as a bare network (float input -> logits) and with the
  checkpoint's standardisation and softmax folded in (uint8 pixels -> probabilities);
- every file passes ``onnx.checker.check_model(full_check=True)``, is opset 13 / IR version 7 by
  default, and carries the class names and training metadata in ``metadata_props``;
- an unsupported layer is a ValueError naming it, and leaves nothing at the path (an old file
  there stays as it was);
- ``minicnn export --format onnx`` writes a file whose probabilities equal ``minicnn predict``'s;
- ``import minicnn`` (and its command line) loads none of onnx, onnxruntime, torch.
The 150x150 CNN5 and Mini-VGGNet cases take tens of seconds: they are marked slow.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import models
from minicnn.data import Standardizer
from minicnn.export import to_onnx
from minicnn.layers.base import LAYER_REGISTRY
from minicnn.losses import softmax

from helpers import every_layer_models, need, perturb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ort():
    onnx = need("onnx", "pip install minicnn[onnx]")
    need("onnxruntime", "pip install minicnn[onnx]")
    import onnxruntime
    onnxruntime.set_default_logger_severity(3)
    return onnx, onnxruntime


def rel_err(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def session(ort, path):
    onnx, onnxruntime = ort
    onnx.checker.check_model(str(path), full_check=True)      # the file as written, re-read
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def preprocessing_for(channels, rng):
    """A fitted dataset-mode Standardizer dict, with statistics of random images."""
    images = rng.integers(0, 256, (8, channels, 8, 8), dtype=np.uint8)
    return Standardizer("dataset").fit(images).to_dict()


def check_both_forms(ort, model, tmp_path, rng, batches=(1, 7), pre=None):
    """Export bare and with preprocessing + softmax; compare each with minicnn at every batch size."""
    shape = model.input_shape
    pre = pre or preprocessing_for(shape[0], rng)
    model.metadata = {"classes": [f"c{i}" for i in range(model.output_shape(shape)[0])],
                      "preprocessing": pre}
    to_onnx(model, tmp_path / "bare.onnx")
    to_onnx(model, tmp_path / "full.onnx", preprocessing=True, softmax=True)
    bare, full = session(ort, tmp_path / "bare.onnx"), session(ort, tmp_path / "full.onnx")
    for n in batches:
        pixels = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        x = Standardizer.from_dict(pre).transform(pixels)                 # float32 network input
        logits = model.forward(x)
        got = bare.run(["logits"], {"input": x})[0]
        assert got.shape == logits.shape and rel_err(got, logits) < 1e-4, rel_err(got, logits)
        probs = softmax(logits.astype(np.float64))
        got = full.run(["probabilities"], {"pixels": pixels})[0]
        assert got.shape == probs.shape and rel_err(got, probs) < 1e-4, rel_err(got, probs)


def report_model(name, size, seed=0):
    model = models.build(name, input_shape=(1, size, size), seed=seed)
    return perturb(model, np.random.default_rng(seed))


HEAVY = pytest.mark.slow    # 150x150 CNN5 / Mini-VGGNet: large Dense layers, tens of seconds


@pytest.mark.parametrize("name,size", [
    ("mini_resnet", 64), ("cnn5", 64), ("mini_vgg", 64), ("mini_resnet", 150),
    pytest.param("cnn5", 150, marks=HEAVY), pytest.param("mini_vgg", 150, marks=HEAVY)])
def test_report_models_match_onnxruntime(ort, tmp_path, name, size):
    check_both_forms(ort, report_model(name, size), tmp_path, np.random.default_rng(1))


@pytest.mark.parametrize("index", [0, 1])
def test_every_layer_type_matches_onnxruntime(ort, tmp_path, index):
    check_both_forms(ort, every_layer_models()[index], tmp_path, np.random.default_rng(2))


def test_float64_model_and_per_batch_standardisation(ort, tmp_path):
    """A float64 model exports as float32; per-batch standardisation uses the batch's own stats."""
    model = every_layer_models(dtype=np.float64)[0]
    check_both_forms(ort, model, tmp_path, np.random.default_rng(3), batches=(1, 5),
                     pre={"mode": "per_batch", "eps": 1e-7, "mean": None, "std": None})


def test_metadata_props_names_and_versions(ort, tmp_path):
    onnx, _ = ort
    model = every_layer_models()[0]
    meta = {"classes": ["a", "b", "c", "d", "e"], "image_size": 13, "color": "grayscale",
            "preprocessing": preprocessing_for(2, np.random.default_rng(0)),
            "training": {"epochs": 3}, "history": {"loss": [1.0]}}
    to_onnx(model, tmp_path / "m.onnx", metadata=meta, preprocessing=True, softmax=True)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert (proto.ir_version, proto.opset_import[0].version) == (7, 13)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["classes"]) == meta["classes"]
    stored = json.loads(props["minicnn_metadata"])
    assert stored["training"] == {"epochs": 3} and "history" not in stored
    assert json.loads(props["preprocessing"]) == meta["preprocessing"]
    assert "crop" not in props and "head" not in props["input"]
    to_onnx(model, tmp_path / "c.onnx", metadata={**meta, "crop": True}, preprocessing=True)
    cropped = {p.key: p.value for p in onnx.load(str(tmp_path / "c.onnx")).metadata_props}
    assert json.loads(cropped["crop"]) is True and "around the head" in cropped["input"]
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "pixels" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 2, 13, 11]
    assert out.name == "probabilities"
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 5]


def test_newer_opset_on_request(ort, tmp_path):
    model = every_layer_models()[1]
    proto = to_onnx(model, tmp_path / "m.onnx", opset=17)
    assert (proto.ir_version, proto.opset_import[0].version) == (8, 17)
    x = np.random.default_rng(0).standard_normal((3, 2, 13, 11)).astype(np.float32)
    got = session(ort, tmp_path / "m.onnx").run(None, {"input": x})[0]
    assert rel_err(got, model.forward(x)) < 1e-4
    with pytest.raises(ValueError, match="opset must be an int from 13"):
        to_onnx(model, None, opset=11)


@pytest.fixture
def unexportable():
    """A layer class the exporter does not know, taken out of the layer registry afterwards."""
    class ExportTestTanh(mc.Layer):
        def forward(self, x, training=False):
            return np.tanh(x)
    yield ExportTestTanh
    LAYER_REGISTRY.pop("ExportTestTanh", None)


def test_unsupported_layer_is_named_and_nothing_is_written(ort, tmp_path, unexportable):
    model = mc.Sequential([mc.Conv2D(1, 2, 3), mc.Sequential([mc.ReLU(), unexportable()]),
                           mc.Flatten()], input_shape=(1, 5, 5))
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=r"layer 1\.1 \(ExportTestTanh\) has no ONNX form"):
        to_onnx(model, path)
    assert os.listdir(tmp_path) == []                              # no file, no temporary file
    path.write_bytes(b"an older export")
    with pytest.raises(ValueError, match="ExportTestTanh"):
        to_onnx(model, path)
    assert path.read_bytes() == b"an older export" and os.listdir(tmp_path) == ["m.onnx"]


def test_bad_requests_are_clear_errors(ort):
    model = every_layer_models()[1]
    with pytest.raises(ValueError, match="no 'preprocessing'"):
        to_onnx(model, None, preprocessing=True)
    with pytest.raises(ValueError, match="statistics for 1 channel"):
        to_onnx(model, None, preprocessing=preprocessing_for(1, np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"input shape \(C, H, W\)"):
        to_onnx(mc.Sequential([mc.ReLU()]), None)
    with pytest.raises(ValueError, match="Conv2D expects 2 channels"):
        to_onnx(model, None, input_shape=(3, 13, 11))


def test_cli_export_matches_minicnn_predict(ort, tmp_path, capsys):
    from minicnn.cli import main
    from minicnn.training import predict
    rng = np.random.default_rng(4)
    model = every_layer_models()[0]
    meta = {"classes": list("abcde"), "image_size": [13, 11], "color": "rgb",
            "preprocessing": preprocessing_for(2, rng)}
    model.save(tmp_path / "best.npz", metadata=meta)
    assert main(["export", "--checkpoint", str(tmp_path / "best.npz"), "--format", "onnx",
                 "--out", str(tmp_path / "new" / "m.onnx")]) == 0           # makes the folder
    assert "pixels -> probabilities, opset 13, IR version 7" in capsys.readouterr().out
    pixels = rng.integers(0, 256, (6, 2, 13, 11), dtype=np.uint8)
    got = session(ort, tmp_path / "new" / "m.onnx").run(None, {"pixels": pixels})[0]
    want = predict(str(tmp_path / "best.npz"), pixels)
    assert rel_err(got, want) < 1e-4 and (got.argmax(1) == want.argmax(1)).all()
    assert main(["export", "--checkpoint", str(tmp_path / "best.npz"), "--format", "torch",
                 "--out", str(tmp_path / "m.pt"), "--logits"]) == 1
    assert "apply to --format onnx only" in capsys.readouterr().err


def test_import_minicnn_loads_no_optional_dependency():
    code = ("import sys, minicnn, minicnn.export, minicnn.cli; minicnn.cli.build_parser(); "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT}, check=True).stdout
    assert out.strip() == "[]"


def test_a_channel_constant_in_training_exports_as_minicnn_standardises_it(ort, tmp_path):
    """A channel that never varied in training has std 0: Standardizer divides it by 1 (not by
    eps, which would multiply pixel differences by 10^7), and so must the exported graph."""
    images = np.random.default_rng(4).integers(0, 256, (8, 2, 8, 8), dtype=np.uint8)
    images[:, 0] = 90
    pre = Standardizer("dataset").fit(images).to_dict()
    assert pre["std"][0] == 0
    check_both_forms(ort, every_layer_models()[0], tmp_path, np.random.default_rng(5), pre=pre)
