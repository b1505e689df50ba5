"""Containers: layers made of layers. ``Sequential`` chains them; ``ResidualBlock`` adds a skip.

A container keeps the layer contract itself, so containers nest (a ResidualBlock inside a
Sequential inside ...). Its ``params``/``grads``/``buffers`` are built from its children's
under dotted names -- child "3" of a Sequential holding a block whose "main" child "0" has a
"W" gives "3.main.0.W" -- and they are the children's own arrays (the same objects), so an
optimizer that updates ``model.params`` in place updates the layers.

A layer object sits in one place of one model: a container refuses, when it is built, a layer (or
a whole sub-model) that appears twice in it. Each layer keeps the input of its last forward for
its backward, so a second use would overwrite the first's, and ``params`` would list its arrays
twice (an optimizer would step them twice).
"""
import numpy as np

from minicnn import kernels
from minicnn.layers import BatchNorm2D, Conv2D, ReLU
from minicnn.layers.base import Layer, as_dtype, build_layer, freeing_caches, layer_spec
from minicnn.serialization import save_model
from minicnn.summary import summary


def _run(where, child, method, *args, **kwargs):
    """``child.<method>(*args, **kwargs)``; an error it raises says where it came from.

    where: a Sequential position (int) or a branch name ("main"). The exception keeps its type and
    traceback; only its message gains "layer 21 (Dense): " in front (nested containers stack up:
    "layer 4 (ResidualBlock): main (Sequential): layer 0 (Conv2D): ..."), as Keras names layers.
    """
    try:
        return getattr(child, method)(*args, **kwargs)
    except Exception as e:
        if e.args and isinstance(e.args[0], str):
            place = f"layer {where}" if isinstance(where, int) else where
            e.args = (f"{place} ({type(child).__name__}): {e.args[0]}",) + e.args[1:]
        raise


def _common_dtype(layers, dtype, owner):
    """The containers' dtype rule: all children share one dtype, equal to ``dtype`` if given."""
    dtypes = {as_dtype(layer.dtype) for layer in layers}
    if len(dtypes) > 1:
        raise ValueError(f"{owner}: children mix dtypes {sorted(d.name for d in dtypes)}; "
                         f"build every layer with the same dtype")
    if dtype is None:
        return dtypes.pop() if dtypes else np.dtype(np.float32)
    dtype = as_dtype(dtype)
    if dtypes and dtypes != {dtype}:
        raise ValueError(f"{owner}(dtype={dtype.name}) but its children are {dtypes.pop().name}; "
                         f"build the layers with dtype={dtype.name} (containers do not cast them)")
    return dtype


def _descendants(layer, prefix=""):
    """(dotted path, layer) for every layer below ``layer``, each parent before its children."""
    for name, child in layer.children():
        yield prefix + name, child
        yield from _descendants(child, f"{prefix}{name}.")


def _refuse_reuse(container):
    """ValueError if one layer object appears twice in ``container`` (see the module doc)."""
    seen = {}                                             # id(layer) -> its first path
    for path, layer in _descendants(container):
        if id(layer) in seen:
            what = type(layer).__name__ if layer.children() else repr(layer)
            raise ValueError(f"layer {what} appears twice in this {type(container).__name__} (at "
                             f"{seen[id(layer)]} and {path}): a layer keeps the input of its last "
                             f"forward for backward, so it cannot be reused; create one layer "
                             f"per use")
        seen[id(layer)] = path


class Container(Layer):
    """Base for layers with children: dotted params/grads/buffers gathered from them."""

    def __init__(self, dtype):
        self.dtype = dtype   # (no Layer.__init__: params/grads/buffers are computed properties)
        self.cache = None
        self.metadata = {}   # free-form dict saved with the model (see minicnn.serialization)

    def _gather(self, attr):
        out = {}
        for name, child in self.children():
            for key, value in getattr(child, attr).items():
                out[f"{name}.{key}"] = value
        return out

    params = property(lambda self: self._gather("params"), doc="dotted name -> child's array")
    grads = property(lambda self: self._gather("grads"))
    buffers = property(lambda self: self._gather("buffers"))

    def child_input_shapes(self, input_shape):
        """[(name, child, per-sample input shape of that child)] -- used by summary()."""
        raise NotImplementedError

    def flops(self, input_shape):
        return sum(child.flops(s) for _, child, s in self.child_input_shapes(input_shape))

    def save(self, path, metadata=None, extra_arrays=None):
        """Write the model (config, params, buffers, metadata) to one .npz file at ``path``."""
        save_model(self, path, metadata=metadata, extra_arrays=extra_arrays)

    def summary(self, input_shape=None, print_fn=print):
        """Print and return a table of layers, output shapes, params and FLOPs per image."""
        return summary(self, input_shape=input_shape, print_fn=print_fn)

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for name, child in self.children():
            lines += [f"  ({name}): " + repr(child).replace("\n", "\n  ")]
        return "\n".join(lines + [")"])


class Sequential(Container):
    """Layers applied one after another: y = layers[-1](... layers[1](layers[0](x))).

    forward:  x_{i+1} = layers[i].forward(x_i)
    backward: the chain rule, last layer first: dx_i = layers[i].backward(dx_{i+1})
              (returns the first layer's dx: None if it skips it, see Conv2D.needs_input_grad)

    layers:      list of Layer (children are named "0", "1", ...), each a different object.
    input_shape: optional per-sample shape such as (1, 64, 64); summary() uses it.
    dtype:       None = the children's common dtype; if given it must match them.
    Layers passed one by one, as to PyTorch's nn.Sequential, are refused with a TypeError
    (``more_layers`` only collects them for that message).
    """

    def __init__(self, layers, input_shape=None, dtype=None, *more_layers):
        if isinstance(layers, Layer) or more_layers:        # Sequential(Dense(4, 2), ReLU())
            given = ", ".join(repr(a) for a in (layers, input_shape, dtype, *more_layers)
                              if isinstance(a, Layer))
            raise TypeError(f"Sequential takes a list of layers, not the layers one by one: "
                            f"Sequential([{given or 'Dense(...), ReLU()'}])")
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError("Sequential needs a non-empty list of Layer objects")
        super().__init__(_common_dtype(layers, dtype, "Sequential"))
        self.layers = layers
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        _refuse_reuse(self)

    def forward(self, x, training=False):
        for i, layer in enumerate(self.layers):
            x = _run(i, layer, "forward", x, training=training)
        return x

    def backward(self, dout):
        for i in range(len(self.layers) - 1, -1, -1):
            dout = _run(i, self.layers[i], "backward", dout)
            if freeing_caches():             # its activations go before the layers below run
                self.layers[i].drop_cache()
        return dout

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def child_input_shapes(self, input_shape):
        out, shape = [], tuple(input_shape)
        for i, layer in enumerate(self.layers):
            out.append((str(i), layer, shape))
            shape = tuple(_run(i, layer, "output_shape", shape))
        return out

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for i, layer in enumerate(self.layers):
            shape = tuple(_run(i, layer, "output_shape", shape))
        return shape

    def get_config(self):
        return {"layers": [layer_spec(layer) for layer in self.layers],
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [build_layer(spec) for spec in config["layers"]]
        return cls(**config)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(self.layers[index])  # shares the layers, like PyTorch
        return self.layers[index]

    def __iter__(self):
        return iter(self.layers)


class ResidualBlock(Container):
    """y = act(main(x) + shortcut(x)) -- the skip connection of ResNet (He et al., 2016).

    main:       a Layer (usually a Sequential) whose output has the shortcut's shape.
    shortcut:   None = identity (then main must keep x's shape), or a Layer (e.g. 1x1 conv + BN).
    activation: None or "relu", applied after the sum.

    backward: with dz = dout * act'(z), z = main(x) + shortcut(x), x feeds both branches, so
        dx = main.backward(dz) + shortcut.backward(dz)        (identity: + dz)
    Both branches receive the *same* dz array. A child whose backward wrote into its dout would
    silently corrupt the other branch's gradient, so dz is passed as a read-only view: such a
    child fails loudly (ValueError: assignment destination is read-only) instead.
    """

    def __init__(self, main, shortcut=None, activation=None, dtype=None):
        if not isinstance(main, Layer) or not (shortcut is None or isinstance(shortcut, Layer)):
            raise ValueError("ResidualBlock(main, shortcut): main and shortcut must be Layer objects")
        if activation not in (None, "relu"):
            raise ValueError(f"activation must be None or 'relu', got {activation!r}")
        branches = [main] + ([shortcut] if shortcut is not None else [])
        super().__init__(_common_dtype(branches, dtype, "ResidualBlock"))
        self.main, self.shortcut, self.activation = main, shortcut, activation
        _refuse_reuse(self)                                   # e.g. main is shortcut

    @classmethod
    def basic(cls, in_channels, out_channels, stride=1, dtype=np.float32, rng=None):
        """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, + identity or 1x1 conv-BN, then ReLU.

        The projection shortcut is used when the shape changes (stride > 1 or new channel count).
        Convolutions have no bias: the BatchNorm that follows would cancel it.
        """
        rng = np.random.default_rng(rng)
        main = Sequential([
            Conv2D(in_channels, out_channels, 3, stride, 1, bias=False, dtype=dtype, rng=rng),
            BatchNorm2D(out_channels, dtype=dtype), ReLU(dtype=dtype),
            Conv2D(out_channels, out_channels, 3, 1, 1, bias=False, dtype=dtype, rng=rng),
            BatchNorm2D(out_channels, dtype=dtype)])
        shortcut = None
        if stride != 1 or in_channels != out_channels:
            shortcut = Sequential([
                Conv2D(in_channels, out_channels, 1, stride, 0, bias=False, dtype=dtype, rng=rng),
                BatchNorm2D(out_channels, dtype=dtype)])
        return cls(main, shortcut, activation="relu", dtype=dtype)

    def _check_shapes(self, main_shape, skip_shape, x_shape):
        if main_shape == skip_shape:
            return
        if self.shortcut is None:
            raise ValueError(f"ResidualBlock: main changes the shape {x_shape} -> {main_shape} and "
                             f"there is no shortcut; pass a projection shortcut (e.g. a 1x1 "
                             f"Conv2D with the same stride, then BatchNorm2D)")
        raise ValueError(f"ResidualBlock: main gives shape {main_shape} but shortcut gives "
                         f"{skip_shape} (input {x_shape}); they must match to be added")

    def forward(self, x, training=False):
        h = _run("main", self.main, "forward", x, training=training)
        s = (np.asarray(x, self.dtype) if self.shortcut is None
             else _run("shortcut", self.shortcut, "forward", x, training=training))
        self._check_shapes(h.shape, s.shape, np.shape(x))
        if self.activation:                                  # y = max(h + s, 0), mask = h + s > 0
            y, mask = kernels.get("elementwise").add_relu_forward(h, s, self._recording())
        else:
            y, mask = h + s, None                            # N,C,H,W
        self.cache = self._keep((y.shape, mask))             # the mask: 1 byte a value, not y's 4
        return y

    def backward(self, dout):
        shape, mask = self.cache if self.cache is not None else ((), None)
        dout = self._check_dout(dout, shape)
        dz = kernels.get("elementwise").relu_backward(dout, mask) if self.activation else dout.view()
        dz.flags.writeable = False                            # shared by both branches: see class doc
        dx = _run("main", self.main, "backward", dz)
        return dx + (dz if self.shortcut is None else _run("shortcut", self.shortcut, "backward", dz))

    def children(self):
        return [("main", self.main)] + ([("shortcut", self.shortcut)] if self.shortcut is not None else [])

    def child_input_shapes(self, input_shape):
        return [(name, child, tuple(input_shape)) for name, child in self.children()]

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        main = tuple(_run("main", self.main, "output_shape", input_shape))
        skip = (input_shape if self.shortcut is None
                else tuple(_run("shortcut", self.shortcut, "output_shape", input_shape)))
        self._check_shapes(main, skip, input_shape)
        return main

    def flops(self, input_shape):
        """Both branches, plus the addition and the ReLU (one FLOP per output element each)."""
        n_out = int(np.prod(self.output_shape(input_shape)))
        return super().flops(input_shape) + n_out * (2 if self.activation else 1)

    def get_config(self):
        return {"main": layer_spec(self.main),
                "shortcut": None if self.shortcut is None else layer_spec(self.shortcut),
                "activation": self.activation, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["main"] = build_layer(config["main"])
        if config.get("shortcut") is not None:
            config["shortcut"] = build_layer(config["shortcut"])
        return cls(**config)
