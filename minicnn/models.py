"""The report's three CNNs, built from minicnn's public layers.

    model = build("mini_resnet", input_shape=(1, 64, 64), num_classes=4, seed=0)
    model.summary()

Every builder takes a per-sample ``input_shape`` (C, H, W) -- any channel count, any size the
pooling allows -- and ``num_classes``. Weights are drawn from one ``np.random.Generator`` seeded
with ``seed``, so the same seed gives the same model. The architectures are fixed: the PyTorch
mirrors in ``benchmarks/`` copy them layer for layer.

The report ("Brain Tumor classification by CNN Model with Python", Keras) gives the outline of
each model but leaves details open; each docstring says what it specifies and what we chose.
"""
import numpy as np

from minicnn.containers import ResidualBlock, Sequential
from minicnn.layers import (BatchNorm2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
                            MaxPool2D, ReLU)

#: The report's models: the name the CLI, the checkpoints and ``build`` use -> the name the
#: report's tables and figures print. The one list of model names (builders: ``_BUILDERS``).
MODEL_NAMES = {"cnn5": "CNN5", "mini_vgg": "Mini-VGGNet", "mini_resnet": "Mini-ResNet"}


def display_name(name):
    """'mini_resnet' -> 'Mini-ResNet'; any other name comes back unchanged."""
    return MODEL_NAMES.get(name, name)


def _check_shape(name, input_shape, num_classes, min_size):
    """Validate (C, H, W) and num_classes; H and W must survive the model's poolings."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name}: input_shape must be (channels, height, width) with positive "
                         f"sizes, got {tuple(input_shape)}")
    if int(num_classes) < 2:
        raise ValueError(f"{name}: num_classes must be at least 2, got {num_classes}")
    if min(shape[1:]) < min_size:
        raise ValueError(f"{name}: input {shape[1]}x{shape[2]} is too small; its poolings need "
                         f"height and width of at least {min_size}")
    return shape


def _tag(model, name, input_shape, num_classes, seed):
    """Record how the model was built (the checkpoint metadata starts from this)."""
    model.metadata = {"model_name": name,
                      "architecture": {"name": name, "input_shape": list(input_shape),
                                       "num_classes": int(num_classes), "seed": seed}}
    return model


def _conv_bn_relu(c_in, c_out, dtype, rng):
    """Conv2D 3x3 (padding 1, size-preserving) -> BatchNorm2D -> ReLU."""
    return [Conv2D(c_in, c_out, 3, padding=1, dtype=dtype, rng=rng),
            BatchNorm2D(c_out, dtype=dtype), ReLU(dtype=dtype)]


def cnn5(input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32):
    """CNN5: five [conv3x3 -> BN -> ReLU -> maxpool 2x2] stages, flatten, two dense layers.

    Report: 5 conv layers, each conv -> batch norm -> ReLU -> max pool, with 64/128/256/512/512
    filters; flatten; 2 fully connected layers.
    Chosen: 3x3 kernels with padding 1 (the conv keeps H, W; each pool halves them), so the input
    must be at least 32x32; the first dense layer has 512 units (the widest conv) followed by
    ReLU and Dropout(0.5) -- the FC layer holds most of the weights and overfits first on a few
    thousand images -- and the second dense layer is the output (logits; softmax is in the loss).

    Shape: (N, C, H, W) -> (N, num_classes); flatten size 512 * (H // 32) * (W // 32).
    """
    shape = _check_shape("cnn5", input_shape, num_classes, 32)
    c, h, w = shape
    rng = np.random.default_rng(seed)
    layers, c_in = [], c
    for c_out in (64, 128, 256, 512, 512):
        layers += _conv_bn_relu(c_in, c_out, dtype, rng) + [MaxPool2D(2, dtype=dtype)]
        c_in, h, w = c_out, h // 2, w // 2
    layers += [Flatten(dtype=dtype),                                 # (N, 512 * h * w)
               Dense(512 * h * w, 512, dtype=dtype, rng=rng), ReLU(dtype=dtype),
               Dropout(0.5, dtype=dtype, rng=rng),
               Dense(512, num_classes, dtype=dtype, rng=rng)]
    model = Sequential(layers, input_shape=shape, dtype=dtype)
    return _tag(model, "cnn5", shape, num_classes, seed)


def mini_vgg(input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32):
    """Mini-VGGNet: three [conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> maxpool] blocks.

    Report: 3 blocks of two 3x3 convs with 64/128/256 filters, max pooling after each block, two
    512-unit hidden layers, softmax output.
    Chosen: padding 1 (as in VGG), so each block halves H and W and the input must be at least
    8x8; batch norm after every conv (the report uses it in CNN5; without it this deeper stack
    trains slowly from scratch); ReLU and Dropout(0.5) after each hidden layer, as in VGG.
    The first hidden layer is large: 256 * (H // 8) * (W // 8) inputs by 512 (8.4M weights at
    64x64).

    Shape: (N, C, H, W) -> (N, num_classes).
    """
    shape = _check_shape("mini_vgg", input_shape, num_classes, 8)
    c, h, w = shape
    rng = np.random.default_rng(seed)
    layers, c_in = [], c
    for c_out in (64, 128, 256):
        layers += (_conv_bn_relu(c_in, c_out, dtype, rng) + _conv_bn_relu(c_out, c_out, dtype, rng)
                   + [MaxPool2D(2, dtype=dtype)])
        c_in, h, w = c_out, h // 2, w // 2
    layers += [Flatten(dtype=dtype),                                 # (N, 256 * h * w)
               Dense(256 * h * w, 512, dtype=dtype, rng=rng), ReLU(dtype=dtype),
               Dropout(0.5, dtype=dtype, rng=rng),
               Dense(512, 512, dtype=dtype, rng=rng), ReLU(dtype=dtype),
               Dropout(0.5, dtype=dtype, rng=rng),
               Dense(512, num_classes, dtype=dtype, rng=rng)]
    model = Sequential(layers, input_shape=shape, dtype=dtype)
    return _tag(model, "mini_vgg", shape, num_classes, seed)


def mini_resnet(input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32):
    """Mini-ResNet: a ResNet-style stem, two identity blocks, global average pooling, output.

    Report: one conv layer, then 2 identity blocks of two convs each with a skip connection,
    global average pooling straight into the softmax output (no hidden dense layer).
    Chosen: the ResNet-18 stem -- conv 7x7, 64 filters, stride 2, padding 3 -> BN -> ReLU ->
    max pool 3x3 stride 2 padding 1 -- which cuts H and W by 4 before the blocks, so the blocks
    (the expensive part) run on 16x16 maps at 64x64 input; ``ResidualBlock.basic(64, 64)`` for
    the identity blocks (conv3x3-BN-ReLU-conv3x3-BN, add the input, ReLU). Only 64 channels
    throughout, so the whole model has about 0.15M parameters: the smallest and fastest of the
    three.

    Shape: (N, C, H, W) -> (N, num_classes); any H, W >= 1 works (the stem pads).
    """
    shape = _check_shape("mini_resnet", input_shape, num_classes, 1)
    c = shape[0]
    rng = np.random.default_rng(seed)
    layers = [Conv2D(c, 64, 7, stride=2, padding=3, dtype=dtype, rng=rng),   # H -> (H - 1)//2 + 1
              BatchNorm2D(64, dtype=dtype), ReLU(dtype=dtype),
              MaxPool2D(3, stride=2, padding=1, dtype=dtype),                 # and again
              ResidualBlock.basic(64, 64, dtype=dtype, rng=rng),
              ResidualBlock.basic(64, 64, dtype=dtype, rng=rng),
              GlobalAvgPool2D(dtype=dtype),                                   # (N, 64)
              Dense(64, num_classes, dtype=dtype, rng=rng)]
    model = Sequential(layers, input_shape=shape, dtype=dtype)
    return _tag(model, "mini_resnet", shape, num_classes, seed)


_BUILDERS = {"cnn5": cnn5, "mini_vgg": mini_vgg, "mini_resnet": mini_resnet}


assert set(_BUILDERS) == set(MODEL_NAMES), "models.py: MODEL_NAMES and _BUILDERS disagree"


def build(name, input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32):
    """Build one of ``MODEL_NAMES`` by name (the CLI and the checkpoints use the names)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return _BUILDERS[name](input_shape=input_shape, num_classes=num_classes, seed=seed, dtype=dtype)
