"""minicnn: a convolutional-network library written from scratch in NumPy, with Numba for the hot loops.

    import minicnn as mc
    model = mc.Sequential([mc.Conv2D(1, 8, 3, padding=1), mc.ReLU(), mc.GlobalAvgPool2D(), mc.Dense(8, 4)])
"""
__version__ = "0.1.0"

from minicnn import _threading  # noqa: F401  (thread defaults; must run before NumPy/Numba load)
from minicnn import _malloc  # noqa: F401  (freed memory kept for the next step: no page faults)

from minicnn.layers import (Layer, BackwardError, Conv2D, BatchNorm2D, ReLU, Dropout, MaxPool2D,
                            GlobalAvgPool2D, Dense, Flatten, free_after_backward, no_grad)
from minicnn.containers import Sequential, ResidualBlock
from minicnn.losses import softmax_cross_entropy
from minicnn.optim import SGD, Adam
from minicnn.serialization import load
from minicnn.runtime import release_workspace, runtime_info

__all__ = ["Layer", "BackwardError", "Conv2D", "BatchNorm2D", "ReLU", "Dropout", "MaxPool2D",
           "GlobalAvgPool2D", "Dense", "Flatten", "Sequential", "ResidualBlock",
           "softmax_cross_entropy", "SGD", "Adam", "load", "runtime_info", "release_workspace",
           "no_grad", "free_after_backward"]
