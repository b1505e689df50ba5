"""minicnn -> ONNX: one file that onnxruntime, OpenVINO, TensorRT or onnxruntime-web can run.

    to_onnx(model, "mini_resnet.onnx")                                   # float input -> logits
    to_onnx(model, "mini_resnet.onnx", preprocessing=True, softmax=True)  # uint8 pixels -> probabilities

Layer by layer (``ONNX op``):

    Conv2D       -> Conv (pads [ph, pw, ph, pw], no dilation, one group)
    BatchNorm2D  -> BatchNormalization with the running statistics (the inference form)
    ReLU         -> Relu                   Dropout -> nothing (the identity at inference)
    MaxPool2D    -> MaxPool: ONNX pads with -inf for max pooling, exactly minicnn's rule, and
                    floors the output size (ceil_mode 0) as minicnn does
    GlobalAvgPool2D -> GlobalAveragePool, then Flatten to (N, C)
    Flatten      -> Flatten(axis=1), row-major over (C, H, W) as NumPy's reshape
    Dense        -> Gemm(x, W, b): ``Dense.W`` is (in, out), which is Gemm's B as it stands
                    (transB=0); PyTorch's exporter writes transB=1 because nn.Linear stores (out, in)
    Sequential   -> its children in order
    ResidualBlock -> both branches, Add, then Relu if the block has its activation

The batch axis is symbolic ("batch"); C, H, W are fixed by the model's input shape. Weights are
written as float32 whatever the model's dtype. ``preprocessing=True`` puts the checkpoint's
standardisation in front (Cast to float, Div 255, Sub mean, Div std + eps: the ``Standardizer``'s
own steps, so the input is the uint8 image a loader decodes); ``softmax=True`` adds Softmax. The
model's metadata (class names, preprocessing, training) goes into ``metadata_props`` as JSON.

Opset 13 and IR version 7 by default: every operator used here exists unchanged since opset 13,
and onnxruntime has loaded IR 7 / opset 13 files since release 1.6 (2020), so old and new
runtimes alike read the file. A newer ``opset`` can be asked for; the IR version follows it.
"""
import json

import numpy as np

from minicnn import __version__
from minicnn.atomic import atomic_write

DEFAULT_OPSET = 13


class _Graph:
    """Nodes and initializers being collected, with unique names."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers, self.count = [], [], 0

    def const(self, name, value):
        self.initializers.append(self.numpy_helper.from_array(
            np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.count += 1
        out = f"{name}:{op}_{self.count}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _pads(padding):
    return [padding[0], padding[1], padding[0], padding[1]]   # top, left, bottom, right


def _emit(layer, x, g, path):
    """Append ``layer``'s nodes reading tensor ``x``; return the name of its output tensor."""
    kind = type(layer).__name__
    p = layer.params
    name = path.rstrip(".") or kind
    if kind == "Sequential":
        for child_name, child in layer.children():
            x = _emit(child, x, g, f"{path}{child_name}.")
        return x
    if kind == "ResidualBlock":
        h = _emit(layer.main, x, g, f"{path}main.")
        s = x if layer.shortcut is None else _emit(layer.shortcut, x, g, f"{path}shortcut.")
        z = g.node("Add", [h, s], name)
        return g.node("Relu", [z], name) if layer.activation == "relu" else z
    if kind == "Conv2D":
        inputs = [x, g.const(path + "W", p["W"])] + ([g.const(path + "b", p["b"])] if "b" in p else [])
        return g.node("Conv", inputs, name, kernel_shape=list(layer.kernel_size),
                      strides=list(layer.stride), pads=_pads(layer.padding), dilations=[1, 1], group=1)
    if kind == "BatchNorm2D":
        b = layer.buffers
        inputs = [x] + [g.const(path + k, v) for k, v in (("gamma", p["gamma"]), ("beta", p["beta"]),
                        ("running_mean", b["running_mean"]), ("running_var", b["running_var"]))]
        return g.node("BatchNormalization", inputs, name, epsilon=layer.eps)
    if kind == "ReLU":
        return g.node("Relu", [x], name)
    if kind == "Dropout":
        return x                                             # identity at inference
    if kind == "MaxPool2D":
        return g.node("MaxPool", [x], name, kernel_shape=list(layer.kernel_size),
                      strides=list(layer.stride), pads=_pads(layer.padding), ceil_mode=0)
    if kind == "GlobalAvgPool2D":
        return g.node("Flatten", [g.node("GlobalAveragePool", [x], name)], name, axis=1)  # N,C
    if kind == "Flatten":
        return g.node("Flatten", [x], name, axis=1)
    if kind == "Dense":
        return g.node("Gemm", [x, g.const(path + "W", p["W"]), g.const(path + "b", p["b"])], name,
                      transA=0, transB=0)
    raise ValueError(f"to_onnx: the layer {name} ({kind}) has no ONNX form here; supported: "
                     f"Conv2D, BatchNorm2D, ReLU, Dropout, MaxPool2D, GlobalAvgPool2D, Flatten, "
                     f"Dense, Sequential, ResidualBlock")


def _preprocess(pre, x, g, channels):
    """Nodes for the Standardizer ``pre`` (its dict) on uint8 input ``x``; returns float32 input."""
    from onnx import TensorProto  # optional: pip install minicnn[onnx]
    if not isinstance(pre, dict) or pre.get("mode") not in ("dataset", "per_batch"):
        raise ValueError(f"to_onnx: preprocessing must be a Standardizer dict with mode 'dataset' "
                         f"or 'per_batch', got {pre!r}")
    x = g.node("Cast", [x], "preprocess", to=TensorProto.FLOAT)
    x = g.node("Div", [x, g.const("preprocess.255", np.float32(255.0))], "preprocess")   # [0, 1]
    eps = np.float32(pre.get("eps", 1e-7))
    if pre["mode"] == "per_batch":   # the whole batch's mean and std, as minicnn's per_batch mode
        mean = g.node("ReduceMean", [x], "preprocess", keepdims=1)
        d = g.node("Sub", [x, mean], "preprocess")
        std = g.node("Sqrt", [g.node("ReduceMean", [g.node("Mul", [d, d], "preprocess")],
                                     "preprocess", keepdims=1)], "preprocess")
        std = g.node("Add", [std, g.const("preprocess.eps", eps)], "preprocess")
        return g.node("Div", [d, std], "preprocess")
    mean, std = np.asarray(pre["mean"], np.float64), np.asarray(pre["std"], np.float64)
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(f"to_onnx: the preprocessing has statistics for {mean.size} channel(s), "
                         f"the model takes {channels}")
    std = np.where(std > 0, std, 1.0)           # a constant channel: divided by 1, as Standardizer
    x = g.node("Sub", [x, g.const("preprocess.mean", mean.reshape(1, -1, 1, 1))], "preprocess")
    return g.node("Div", [x, g.const("preprocess.std", (std + pre.get("eps", 1e-7)).reshape(1, -1, 1, 1))],
                  "preprocess")


def _input_shape(model, input_shape):
    meta = getattr(model, "metadata", None) or {}
    shape = input_shape or getattr(model, "input_shape", None) or meta.get("input_shape")
    if shape is None or len(shape) != 3:
        raise ValueError(f"to_onnx needs the per-sample input shape (C, H, W): pass input_shape= "
                         f"(the model has none recorded), got {shape!r}")
    return tuple(int(d) for d in shape)


def _metadata_props(meta, pre, softmax):
    """String -> string entries for the file's metadata_props (JSON where the value is not text)."""
    meta = {k: v for k, v in meta.items() if k != "history"}
    props = {"minicnn_metadata": json.dumps(meta, default=lambda o: np.asarray(o).tolist()),
             "input": ("uint8 pixels (N, C, H, W), 0-255; standardised inside the graph"
                       if pre else "float32 (N, C, H, W), already standardised"),
             "output": "class probabilities (N, K)" if softmax else "logits (N, K)"}
    if meta.get("crop"):
        props["input"] += ("; each picture cut to the square around the head before resizing, "
                           "as minicnn.data.crop does")
    for key in ("classes", "preprocessing", "image_size", "color", "crop", "model_name"):
        if meta.get(key) is not None:
            props[key] = json.dumps(meta[key])
    return props


def to_onnx(model, path=None, input_shape=None, preprocessing=False, softmax=False, metadata=None,
            opset=DEFAULT_OPSET):
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ``onnx.ModelProto``.

    model:         a minicnn layer or container (its inference form is exported).
    path:          where to write; None = only return the ModelProto.
    input_shape:   per-sample (C, H, W); default the model's ``input_shape`` or its metadata's.
    preprocessing: False = the graph takes float32 network input ("input"); True = it takes uint8
                   pixels ("pixels") and applies ``metadata["preprocessing"]``; or give that dict.
    softmax:       False = the output is logits ("logits"); True = probabilities ("probabilities").
    metadata:      stored in metadata_props (default ``model.metadata``): classes and the rest.
    opset:         ONNX opset, 13 (the default) or newer.
    Raises ValueError naming an unsupported layer; nothing is written then.
    """
    import onnx  # optional: pip install minicnn[onnx] (never loaded by import minicnn)
    from onnx import TensorProto, helper, numpy_helper  # optional, as above
    if not isinstance(opset, int) or not DEFAULT_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"to_onnx: opset must be an int from {DEFAULT_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()} (this onnx package), got {opset!r}")
    meta = dict(getattr(model, "metadata", None) or {}) if metadata is None else dict(metadata)
    pre = meta.get("preprocessing") if preprocessing is True else (preprocessing or None)
    if preprocessing is True and pre is None:
        raise ValueError("to_onnx(preprocessing=True): the model's metadata has no 'preprocessing' "
                         "(a checkpoint written by fit has it); pass the dict or leave it False")
    if hasattr(pre, "to_dict"):
        pre = pre.to_dict()
    shape = _input_shape(model, input_shape)
    n_out = model.output_shape(shape)            # checks the shapes; ValueError if they do not fit
    g = _Graph(helper, numpy_helper)
    in_name = "pixels" if pre else "input"
    x = _preprocess(pre, in_name, g, shape[0]) if pre else in_name
    y = _emit(model, x, g, "")
    out_name = "probabilities" if softmax else "logits"
    g.nodes.append(helper.make_node("Softmax" if softmax else "Identity", [y], [out_name],
                                    name=out_name, **({"axis": 1} if softmax else {})))
    graph = helper.make_graph(
        g.nodes, meta.get("model_name") or type(model).__name__,
        [helper.make_tensor_value_info(in_name, TensorProto.UINT8 if pre else TensorProto.FLOAT,
                                       ["batch", *shape])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", *n_out])],
        initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="minicnn",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    helper.set_model_props(proto, _metadata_props(meta, pre, softmax))
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        with atomic_write(path) as f:
            f.write(proto.SerializeToString())
    return proto
