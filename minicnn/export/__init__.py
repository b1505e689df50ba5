"""Doors out of minicnn: ONNX for inference anywhere, PyTorch to keep training at scale.

    from minicnn.export import to_onnx, to_torch, from_torch
    to_onnx(model, "mini_resnet.onnx", preprocessing=True, softmax=True)   # uint8 in, probabilities out
    module = to_torch(model)                 # a plain torch.nn.Module with the same weights
    model = from_torch(module, metadata=model.metadata)   # and back, bit for bit

Modules: ``onnx_graph`` (to_onnx), ``torch_bridge`` (to_torch, from_torch), ``torch_files``
(save_torch: a state_dict plus the module code), ``torch_modules`` (the PyTorch twins of
minicnn's layers; it imports only torch and is copied verbatim by ``minicnn export --format
torch``). onnx and torch are optional dependencies: they are imported
inside the functions that use them, never by ``import minicnn`` or ``import minicnn.export``.
"""
from minicnn.export.onnx_graph import DEFAULT_OPSET, to_onnx
from minicnn.export.torch_bridge import from_torch, to_torch
from minicnn.export.torch_files import save_torch

__all__ = ["to_onnx", "to_torch", "from_torch", "save_torch", "DEFAULT_OPSET"]
