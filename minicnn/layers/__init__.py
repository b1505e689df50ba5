"""minicnn's layers: one small module per family, all keeping the contract in ``base.py``."""
from minicnn.layers.base import Layer, BackwardError, LAYER_REGISTRY, free_after_backward, no_grad
from minicnn.layers.conv import Conv2D, set_conv_algorithm
from minicnn.layers.norm import BatchNorm2D
from minicnn.layers.activation import ReLU, Dropout
from minicnn.layers.pool import MaxPool2D, GlobalAvgPool2D
from minicnn.layers.dense import Dense, Flatten

__all__ = ["Layer", "BackwardError", "LAYER_REGISTRY", "no_grad", "free_after_backward", "Conv2D",
           "BatchNorm2D", "ReLU", "Dropout", "MaxPool2D", "GlobalAvgPool2D", "Dense", "Flatten",
           "set_conv_algorithm"]
