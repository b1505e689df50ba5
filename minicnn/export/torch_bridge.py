"""minicnn <-> PyTorch: ``to_torch`` gives a plain ``nn.Module``, ``from_torch`` brings it back.

    module = to_torch(minicnn.load("runs/mini_resnet/best.npz"))   # nn.Sequential, eval mode
    ...train it further in PyTorch (DistributedDataParallel, GPUs)...
    model = from_torch(module, metadata=old.metadata)               # a minicnn model again
    model.save("runs/mini_resnet_torch/best.npz", metadata=model.metadata)

The PyTorch modules are built by ``torch_modules.build`` from the model's layer spec; the
weights are copied under matching names (``torch_names``): Conv2D ``W``/``b`` -> ``weight``/``bias``,
BatchNorm2D ``gamma``/``beta`` -> ``weight``/``bias`` (running statistics keep their names),
Dense ``W`` (in, out) -> ``weight`` (out, in), transposed. Copies are exact: a round trip
``from_torch(to_torch(m))`` gives bit-identical parameters and buffers. PyTorch's BatchNorm also
counts its batches (``num_batches_tracked``); minicnn has no such counter, and it is dropped.
"""
import os

import numpy as np

from minicnn.containers import Container
from minicnn.layers.base import build_layer, layer_spec
from minicnn.training.checkpoint import load_checkpoint

#: minicnn parameter/buffer name -> PyTorch name, per layer class (Dense's W is transposed).
NAMES = {"Conv2D": {"W": "weight", "b": "bias"},
         "Dense": {"W": "weight", "b": "bias"},
         "BatchNorm2D": {"gamma": "weight", "beta": "bias", "running_mean": "running_mean",
                         "running_var": "running_var"}}
_DROPPED = ("num_batches_tracked",)


def torch_names(model):
    """[(layer, minicnn key, minicnn dotted name, torch dotted name, transpose?)] for every array."""
    out = []

    def walk(layer, prefix):
        if isinstance(layer, Container):
            for name, child in layer.children():
                walk(child, f"{prefix}{name}.")
            return
        for key, tname in NAMES.get(type(layer).__name__, {}).items():
            if key in layer.params or key in layer.buffers:
                out.append((layer, key, prefix + key, prefix + tname,
                            type(layer).__name__ == "Dense" and key == "W"))
    walk(model, "")
    return out


def to_torch(model):
    """A ``torch.nn.Module`` computing what ``model`` computes, in eval mode, same dtype.

    model: a minicnn layer or container (Sequential, ResidualBlock, ...).
    Returns nn.Sequential / Residual / stock torch.nn layers (see ``torch_modules``) holding
    copies of the weights and running statistics. Call ``.train()`` to train it further.
    """
    import torch  # optional: pip install torch==2.13.0 (never loaded by import minicnn)
    from minicnn.export import torch_modules  # optional: it imports torch
    module = torch_modules.build(layer_spec(model))
    state = module.state_dict()                       # tensors sharing the module's storage
    with torch.no_grad():
        for layer, key, name, tname, transpose in torch_names(model):
            value = layer.params[key] if key in layer.params else layer.buffers[key]
            value = value.T if transpose else value
            state[tname].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module.eval()


def _spec_of(module, path, dtype):
    """The minicnn layer spec of one torch module; ValueError naming what has no counterpart."""
    from torch import nn  # optional, as above
    kind = type(module).__name__
    where = f"from_torch: {path.rstrip('.') or 'the module'} ({kind})"

    def need(ok, why):
        if not ok:
            raise ValueError(f"{where} cannot become a minicnn layer: {why}")

    cfg = {"dtype": dtype}
    if isinstance(module, nn.Sequential):
        names = [n for n, _ in module.named_children()]
        need(names == [str(i) for i in range(len(names))],
             f"its children must be named 0, 1, 2, ... as minicnn names them, got {names}")
        layers = [_spec_of(child, f"{path}{n}.", dtype) for n, child in module.named_children()]
        return {"class": "Sequential", "config": {"layers": layers, "input_shape": None, **cfg}}
    if kind == "Residual" and hasattr(module, "main"):
        short = getattr(module, "shortcut", None)
        return {"class": "ResidualBlock", "config": {
            "main": _spec_of(module.main, f"{path}main.", dtype),
            "shortcut": None if short is None else _spec_of(short, f"{path}shortcut.", dtype),
            "activation": module.activation, **cfg}}
    if isinstance(module, nn.Conv2d):
        need(module.groups == 1, f"groups={module.groups} (minicnn convolutions are dense)")
        need(tuple(module.dilation) == (1, 1), f"dilation={module.dilation}")
        need(module.padding_mode == "zeros", f"padding_mode={module.padding_mode!r}")
        need(not isinstance(module.padding, str), f"padding={module.padding!r} (give integers)")
        return {"class": "Conv2D", "config": {
            "in_channels": module.in_channels, "out_channels": module.out_channels,
            "kernel_size": list(module.kernel_size), "stride": list(module.stride),
            "padding": list(module.padding), "bias": module.bias is not None, **cfg}}
    if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):   # SyncBatchNorm: DDP on GPUs
        need(module.affine and module.track_running_stats and module.bias is not None,
             "minicnn's BatchNorm2D has gamma, beta and running statistics (affine=True, "
             "track_running_stats=True)")
        need(module.momentum is not None, "momentum=None (cumulative averages)")
        return {"class": "BatchNorm2D", "config": {"num_features": module.num_features,
                "momentum": module.momentum, "eps": module.eps, **cfg}}
    if isinstance(module, nn.MaxPool2d):
        need(module.dilation in (1, (1, 1)), f"dilation={module.dilation}")
        need(not module.ceil_mode, "ceil_mode=True (minicnn pools with floor)")
        return {"class": "MaxPool2D", "config": {"kernel_size": module.kernel_size,
                "stride": module.stride, "padding": module.padding, **cfg}}
    if isinstance(module, nn.Linear):
        need(module.bias is not None, "bias=False (minicnn's Dense always has a bias)")
        return {"class": "Dense", "config": {"in_features": module.in_features,
                "out_features": module.out_features, **cfg}}
    if isinstance(module, nn.Flatten):
        need(module.start_dim == 1 and module.end_dim == -1, "only Flatten(1, -1) is minicnn's")
        return {"class": "Flatten", "config": cfg}
    if isinstance(module, nn.Dropout):
        return {"class": "Dropout", "config": {"rate": module.p, **cfg}}
    if isinstance(module, nn.ReLU) or kind == "GlobalAvgPool2d":
        return {"class": "ReLU" if kind == "ReLU" else "GlobalAvgPool2D", "config": cfg}
    raise ValueError(f"{where} has no minicnn counterpart (minicnn has Conv2d, BatchNorm2d, ReLU, "
                     f"Dropout, MaxPool2d, Flatten, Linear, nn.Sequential and the Residual and "
                     f"GlobalAvgPool2d of minicnn.export.torch_modules)")


def _template(architecture):
    """(layer spec, default metadata) from a minicnn model, a spec dict or a checkpoint path."""
    if isinstance(architecture, (str, os.PathLike)):
        architecture = load_checkpoint(architecture)
    if isinstance(architecture, dict) and "class" in architecture:
        return architecture, {}
    if hasattr(architecture, "get_config"):
        return layer_spec(architecture), dict(getattr(architecture, "metadata", None) or {})
    raise ValueError("from_torch: architecture must be a minicnn model, its layer spec "
                     "({'class': ..., 'config': ...}) or a checkpoint path, got "
                     f"{type(architecture).__name__}")


def _unwrap(module):
    """A DistributedDataParallel / DataParallel wrapper's inner module, else the module."""
    return module.module if type(module).__name__ in ("DistributedDataParallel", "DataParallel") else module


def from_torch(module_or_state_dict, architecture=None, metadata=None, input_shape=None):
    """A minicnn model with the weights of a PyTorch module or state_dict.

    module_or_state_dict: an ``nn.Module`` built from the layers ``to_torch`` uses (a DDP wrapper
        is unwrapped), or its ``state_dict()`` (keys may carry DDP's "module." prefix).
    architecture: needed with a state_dict, optional with a module: a minicnn model (its
        architecture and metadata are used, its weights are not), a layer spec, or a checkpoint
        path. Without it the architecture is read off the module.
    metadata: the returned model's ``metadata`` (default: the architecture model's); save a
        checkpoint that ``minicnn evaluate``/``report``/``predict`` read with
        ``model.save(path, metadata=model.metadata)``.
    input_shape: per-sample (C, H, W) for the top Sequential (default: the architecture's, or
        ``metadata["input_shape"]``).
    """
    import torch  # optional: pip install torch==2.13.0 (never loaded by import minicnn)
    default_meta = {}
    if isinstance(module_or_state_dict, torch.nn.Module):
        module = _unwrap(module_or_state_dict)
        state = module.state_dict()
        if architecture is None:
            dtype = next(iter(state.values())).dtype if state else torch.float32
            if dtype not in (torch.float32, torch.float64):
                raise ValueError(f"from_torch: the module holds {dtype} tensors; minicnn takes "
                                 f"float32 or float64 (call module.float() first)")
            spec = _spec_of(module, "", "float64" if dtype == torch.float64 else "float32")
        else:
            spec, default_meta = _template(architecture)
    elif hasattr(module_or_state_dict, "keys"):
        state = dict(module_or_state_dict)
        if state and all(k.startswith("module.") for k in state):
            state = {k[len("module."):]: v for k, v in state.items()}   # saved from a DDP wrapper
        if architecture is None:
            raise ValueError("from_torch: a state_dict holds no architecture; pass "
                             "architecture= (a minicnn model, its layer spec or a checkpoint path)")
        spec, default_meta = _template(architecture)
    else:
        raise ValueError(f"from_torch expects a torch.nn.Module or a state_dict, got "
                         f"{type(module_or_state_dict).__name__}")
    model = build_layer(spec)
    meta = dict(default_meta if metadata is None else metadata)
    shape = input_shape or (spec.get("config") or {}).get("input_shape") or meta.get("input_shape")
    if shape is not None and hasattr(model, "input_shape"):
        model.input_shape = tuple(int(d) for d in shape)
    _copy_in(model, state)
    model.metadata = meta
    return model


def _copy_in(model, state):
    """Copy a state_dict into the model's own arrays, checking that the names and shapes agree."""
    mapping = torch_names(model)
    expected = {tname for *_, tname, _ in mapping}
    unknown = [k for k in state if k not in expected and k.rsplit(".", 1)[-1] not in _DROPPED]
    missing = [tname for *_, tname, _ in mapping if tname not in state]
    if missing or unknown:
        raise ValueError(f"from_torch: the state_dict does not fit the architecture: missing "
                         f"{missing[:5] or 'nothing'}, unexpected {unknown[:5] or 'nothing'}")
    for layer, key, name, tname, transpose in mapping:
        value = state[tname].detach().cpu().numpy()
        value = value.T if transpose else value
        target = layer.params[key] if key in layer.params else layer.buffers[key]
        if value.shape != target.shape:
            raise ValueError(f"from_torch: {tname} has shape {tuple(state[tname].shape)}, the "
                             f"minicnn {name} needs {target.shape[::-1] if transpose else target.shape}")
        target[...] = value
