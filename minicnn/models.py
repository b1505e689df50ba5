"""The report's three CNNs, built from minicnn's public layers, with the report's tuning knobs.

    model = build("mini_resnet", input_shape=(1, 64, 64), num_classes=4, seed=0)
    model = build("cnn5", kernel_size=5, width=0.5, stride=2)     # one point of the report's search
    model.summary()

Every builder takes a per-sample ``input_shape`` (C, H, W) -- any channel count, any size the
pooling allows -- and ``num_classes``. Weights are drawn from one ``np.random.Generator`` seeded
with ``seed``, so the same seed gives the same model. With the default knobs the architectures are
the fixed ones that the PyTorch mirrors in ``benchmarks/`` copy layer for layer.

The knobs are the axes the report tuned ("filter size, filter count, stride") plus the head:

    filters      conv filter counts, one per stage (cnn5: 5, mini_vgg: 3, mini_resnet: 1)
    width        multiplies every filter count (0.5 = halved, 2 = doubled); rounded, at least 1
    kernel_size  the 3x3 convs' kernel (odd; padding kernel_size // 2 keeps H, W)
    stride       the first conv's stride (cnn5, mini_vgg: 1; mini_resnet's 7x7 stem: 2)
    dense        hidden dense width (cnn5, mini_vgg: 512; mini_resnet: 0 = none)
    dropout      dropout rate after each hidden dense layer (mini_resnet: before its output)

They are stored, resolved, in ``model.metadata["architecture"]`` (and so in every checkpoint);
``from_architecture(arch)`` rebuilds exactly that model.

The report ("Brain Tumor classification by CNN Model with Python", Keras) gives the outline of
each model but leaves details open; each docstring says what it specifies and what we chose.
"""
import numpy as np

from minicnn.containers import ResidualBlock, Sequential
from minicnn.kernels.shapes import whole
from minicnn.layers import (BatchNorm2D, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D,
                            MaxPool2D, ReLU)

#: The report's models: the name the CLI, the checkpoints and ``build`` use -> the name the
#: report's tables and figures print. The one list of model names (builders: ``_BUILDERS``).
MODEL_NAMES = {"cnn5": "CNN5", "mini_vgg": "Mini-VGGNet", "mini_resnet": "Mini-ResNet"}


def display_name(name):
    """'mini_resnet' -> 'Mini-ResNet'; any other name comes back unchanged."""
    return MODEL_NAMES.get(name, name)


KNOBS = ("filters", "width", "kernel_size", "stride", "dense", "dropout")


def _whole(name, what, value, low):
    """``value`` as an int >= ``low``, or a ValueError naming the model and ``what``."""
    return whole(value, f"{name}: {what}", low)


def _check_shape(name, input_shape, num_classes):
    """Validate (C, H, W) and num_classes."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name}: input_shape must be (channels, height, width) with positive "
                         f"sizes, got {tuple(input_shape)}")
    if shape[0] > 4 and shape[2] in (1, 3):             # (64, 64, 1): an image array's own order
        raise ValueError(f"{name}: input_shape is (channels, height, width), e.g. "
                         f"({shape[2]}, {shape[0]}, {shape[1]}); {shape} looks like (height, "
                         f"width, channels)")
    _whole(name, "num_classes", num_classes, 2)
    return shape


def _check_size(name, shape, h, w, min_size):
    """H and W after the last pooling must be at least 1; say the smallest input that works."""
    if h < 1 or w < 1:
        raise ValueError(f"{name}: input {shape[1]}x{shape[2]} is too small; its poolings need "
                         f"height and width of at least {min_size}")


def _knobs(name, default_filters, filters, width, kernel_size, stride, dense, dropout):
    """Validate the knobs; return them resolved (width folded into the filter counts)."""
    filters = default_filters if filters is None else filters
    filters = [filters] if np.isscalar(filters) else list(filters)
    if len(filters) != len(default_filters):
        raise ValueError(f"{name}: filters must be {len(default_filters)} positive counts, "
                         f"got {filters}")
    filters = [_whole(name, "filters", f, 1) for f in filters]
    if not float(width) > 0:
        raise ValueError(f"{name}: width must be > 0, got {width}")
    filters = [max(1, int(round(f * float(width)))) for f in filters]
    if _whole(name, "kernel_size", kernel_size, 1) % 2 == 0:
        raise ValueError(f"{name}: kernel_size must be a positive odd number, got {kernel_size}")
    stride, dense = _whole(name, "stride", stride, 1), _whole(name, "dense", dense, 0)
    if not 0 <= float(dropout) < 1:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
    return {"filters": filters, "kernel_size": int(kernel_size), "stride": stride,
            "dense": dense, "dropout": float(dropout)}


def _tag(model, name, input_shape, num_classes, seed, knobs):
    """Record how the model was built (the checkpoint metadata starts from this)."""
    model.metadata = {"model_name": name,
                      "architecture": {"name": name, "input_shape": list(input_shape),
                                       "num_classes": int(num_classes), "seed": seed, **knobs}}
    return model


def _conv_bn_relu(c_in, c_out, dtype, rng, k=3, stride=1):
    """Conv2D kxk (padding k//2: size-preserving at stride 1) -> BatchNorm2D -> ReLU."""
    return [Conv2D(c_in, c_out, k, stride=stride, padding=k // 2, dtype=dtype, rng=rng),
            BatchNorm2D(c_out, dtype=dtype), ReLU(dtype=dtype)]


def _head(features, dense_layers, num_classes, dropout, dtype, rng):
    """Flatten, then [Dense -> ReLU -> Dropout] per hidden width, then the output Dense."""
    layers = [Flatten(dtype=dtype)]                                  # (N, features)
    for units in dense_layers:
        layers += [Dense(features, units, dtype=dtype, rng=rng), ReLU(dtype=dtype)]
        layers += [Dropout(dropout, dtype=dtype, rng=rng)] if dropout else []
        features = units
    return layers + [Dense(features, num_classes, dtype=dtype, rng=rng)]


def cnn5(input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32, filters=None,
         width=1.0, kernel_size=3, stride=1, dense=512, dropout=0.5):
    """CNN5: five [conv3x3 -> BN -> ReLU -> maxpool 2x2] stages, flatten, two dense layers.

    Report: 5 conv layers, each conv -> batch norm -> ReLU -> max pool, with 64/128/256/512/512
    filters; flatten; 2 fully connected layers.
    Chosen: 3x3 kernels with padding 1 (the conv keeps H, W; each pool halves them), so the input
    must be at least 32x32; the first dense layer has 512 units (the widest conv) followed by
    ReLU and Dropout(0.5) -- the FC layer holds most of the weights and overfits first on a few
    thousand images -- and the second dense layer is the output (logits; softmax is in the loss).
    Knobs (module docstring): filters, width, kernel_size, stride (first conv), dense, dropout.

    Shape: (N, C, H, W) -> (N, num_classes); flatten size filters[-1] * (H' // 32) * (W' // 32),
    H' = (H - 1) // stride + 1.
    """
    shape = _check_shape("cnn5", input_shape, num_classes)
    kn = _knobs("cnn5", (64, 128, 256, 512, 512), filters, width, kernel_size, stride, dense,
                dropout)
    c, h, w = shape
    rng = np.random.default_rng(seed)
    layers, c_in, s = [], c, kn["stride"]
    for c_out in kn["filters"]:
        layers += _conv_bn_relu(c_in, c_out, dtype, rng, kn["kernel_size"], s)
        layers += [MaxPool2D(2, dtype=dtype)]
        c_in, h, w, s = c_out, ((h - 1) // s + 1) // 2, ((w - 1) // s + 1) // 2, 1
    _check_size("cnn5", shape, h, w, 32 * kn["stride"])
    layers += _head(c_in * h * w, [kn["dense"]] if kn["dense"] else [], num_classes,
                    kn["dropout"], dtype, rng)
    model = Sequential(layers, input_shape=shape, dtype=dtype)
    return _tag(model, "cnn5", shape, num_classes, seed, kn)


def mini_vgg(input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32, filters=None,
             width=1.0, kernel_size=3, stride=1, dense=512, dropout=0.5):
    """Mini-VGGNet: three [conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> maxpool] blocks.

    Report: 3 blocks of two 3x3 convs with 64/128/256 filters, max pooling after each block, two
    512-unit hidden layers, softmax output.
    Chosen: padding 1 (as in VGG), so each block halves H and W and the input must be at least
    8x8; batch norm after every conv (the report uses it in CNN5; without it this deeper stack
    trains slowly from scratch); ReLU and Dropout(0.5) after each hidden layer, as in VGG.
    The first hidden layer is large: 256 * (H // 8) * (W // 8) inputs by 512 (8.4M weights at
    64x64). Knobs (module docstring): filters, width, kernel_size, stride, dense (both hidden
    layers), dropout.

    Shape: (N, C, H, W) -> (N, num_classes).
    """
    shape = _check_shape("mini_vgg", input_shape, num_classes)
    kn = _knobs("mini_vgg", (64, 128, 256), filters, width, kernel_size, stride, dense, dropout)
    c, h, w = shape
    rng = np.random.default_rng(seed)
    layers, c_in, s, k = [], c, kn["stride"], kn["kernel_size"]
    for c_out in kn["filters"]:
        layers += (_conv_bn_relu(c_in, c_out, dtype, rng, k, s)
                   + _conv_bn_relu(c_out, c_out, dtype, rng, k) + [MaxPool2D(2, dtype=dtype)])
        c_in, h, w, s = c_out, ((h - 1) // s + 1) // 2, ((w - 1) // s + 1) // 2, 1
    _check_size("mini_vgg", shape, h, w, 8 * kn["stride"])
    layers += _head(c_in * h * w, [kn["dense"]] * 2 if kn["dense"] else [], num_classes,
                    kn["dropout"], dtype, rng)
    model = Sequential(layers, input_shape=shape, dtype=dtype)
    return _tag(model, "mini_vgg", shape, num_classes, seed, kn)


def _identity_block(channels, k, dtype, rng):
    """``ResidualBlock.basic(channels, channels)`` with a kxk kernel instead of 3x3."""
    if k == 3:
        return ResidualBlock.basic(channels, channels, dtype=dtype, rng=rng)
    main = Sequential([
        Conv2D(channels, channels, k, 1, k // 2, bias=False, dtype=dtype, rng=rng),
        BatchNorm2D(channels, dtype=dtype), ReLU(dtype=dtype),
        Conv2D(channels, channels, k, 1, k // 2, bias=False, dtype=dtype, rng=rng),
        BatchNorm2D(channels, dtype=dtype)])
    return ResidualBlock(main, None, activation="relu", dtype=dtype)


def mini_resnet(input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32, filters=None,
                width=1.0, kernel_size=3, stride=2, dense=0, dropout=0.0):
    """Mini-ResNet: a ResNet-style stem, two identity blocks, global average pooling, output.

    Report: one conv layer, then 2 identity blocks of two convs each with a skip connection,
    global average pooling straight into the softmax output (no hidden dense layer).
    Chosen: the ResNet-18 stem -- conv 7x7, 64 filters, stride 2, padding 3 -> BN -> ReLU ->
    max pool 3x3 stride 2 padding 1 -- which cuts H and W by 4 before the blocks, so the blocks
    (the expensive part) run on 16x16 maps at 64x64 input; ``ResidualBlock.basic(64, 64)`` for
    the identity blocks (conv3x3-BN-ReLU-conv3x3-BN, add the input, ReLU). Only 64 channels
    throughout, so the whole model has about 0.15M parameters: the smallest and fastest of the
    three. Knobs (module docstring): filters (one count), width, kernel_size (the blocks'),
    stride (the stem's), dense (a hidden layer after pooling, 0 = none), dropout.

    Shape: (N, C, H, W) -> (N, num_classes); any H, W >= 1 works (the stem pads).
    """
    shape = _check_shape("mini_resnet", input_shape, num_classes)
    kn = _knobs("mini_resnet", (64,), filters, width, kernel_size, stride, dense, dropout)
    c, ch, k = shape[0], kn["filters"][0], kn["kernel_size"]
    rng = np.random.default_rng(seed)
    layers = [Conv2D(c, ch, 7, stride=kn["stride"], padding=3, dtype=dtype, rng=rng),
              BatchNorm2D(ch, dtype=dtype), ReLU(dtype=dtype),               # H -> (H - 1)//s + 1
              MaxPool2D(3, stride=2, padding=1, dtype=dtype),                 # and halved again
              _identity_block(ch, k, dtype, rng), _identity_block(ch, k, dtype, rng),
              GlobalAvgPool2D(dtype=dtype)]                                   # (N, ch)
    if kn["dense"]:
        layers += [Dense(ch, kn["dense"], dtype=dtype, rng=rng), ReLU(dtype=dtype)]
    if kn["dropout"]:
        layers += [Dropout(kn["dropout"], dtype=dtype, rng=rng)]
    layers += [Dense(kn["dense"] or ch, num_classes, dtype=dtype, rng=rng)]
    model = Sequential(layers, input_shape=shape, dtype=dtype)
    return _tag(model, "mini_resnet", shape, num_classes, seed, kn)


_BUILDERS = {"cnn5": cnn5, "mini_vgg": mini_vgg, "mini_resnet": mini_resnet}


assert set(_BUILDERS) == set(MODEL_NAMES), "models.py: MODEL_NAMES and _BUILDERS disagree"


def build(name, input_shape=(1, 64, 64), num_classes=4, seed=0, dtype=np.float32, **knobs):
    """Build one of ``MODEL_NAMES`` by name (the CLI and the checkpoints use the names).

    ``knobs``: any of ``KNOBS`` (see the module docstring); the others keep their defaults.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise ValueError(f"unknown model knob(s) {', '.join(unknown)}; "
                         f"the knobs are {', '.join(KNOBS)}")
    knobs = {k: v for k, v in knobs.items() if v is not None}
    return _BUILDERS[name](input_shape=input_shape, num_classes=num_classes, seed=seed,
                           dtype=dtype, **knobs)


def from_architecture(arch, dtype=np.float32):
    """Rebuild the model that ``model.metadata["architecture"]`` (or a checkpoint's) describes.

    Architectures written before the knobs existed hold none of them: the defaults apply.
    """
    knobs = {k: arch[k] for k in KNOBS if k in arch}
    return build(arch["name"], arch["input_shape"], arch["num_classes"], arch.get("seed", 0),
                 dtype=dtype, **knobs)
