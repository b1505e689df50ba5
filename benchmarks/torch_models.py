"""PyTorch mirrors of minicnn's three model-zoo architectures (for benchmarks and recipe scouting).

Each builder returns a ``torch.nn.Sequential`` with the same layers, shapes and parameter
counts as ``minicnn.models.build(name, input_shape, num_classes)``:

- mini_resnet: Conv(C,64,7,s2,p3)-BN-ReLU-MaxPool(3,2,p1) -> 2 x basic block(64,64)
               -> GlobalAvgPool -> Dense(64, K)
- cnn5:        5 x [Conv3x3(p1)-BN-ReLU-MaxPool(2)] with 64,128,256,512,512 filters
               -> Flatten -> Dense(.., 512)-ReLU-Dropout(0.5) -> Dense(512, K)
- mini_vgg:    3 x [Conv3x3-BN-ReLU-Conv3x3-BN-ReLU-MaxPool(2)] with 64,128,256 filters
               -> Flatten -> Dense(..,512)-ReLU-Dropout(0.5) -> Dense(512,512)-ReLU-Dropout(0.5)
               -> Dense(512, K)

Convolutions keep their bias (minicnn's ``Conv2D(bias=True)`` default) except inside the
residual blocks, which (like ``ResidualBlock.basic``) have none; ``conv_bias=False`` drops the
rest. Weights use minicnn's initialisation (He/Kaiming normal, fan-in; zero biases;
BatchNorm gamma=1, beta=0), not PyTorch's default, so that training recipes transfer.

    >>> m = build("mini_resnet", (1, 64, 64), 4)
    >>> m(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 4])
"""
import torch
from torch import nn

MODEL_NAMES = ("mini_resnet", "cnn5", "mini_vgg")


def conv_bn_relu(c_in, c_out, kernel_size=3, stride=1, padding=1, conv_bias=True):
    return [nn.Conv2d(c_in, c_out, kernel_size, stride, padding, bias=conv_bias),
            nn.BatchNorm2d(c_out, momentum=0.1, eps=1e-5), nn.ReLU()]


class BasicBlock(nn.Module):
    """ResNet basic block: y = ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)).

    The shortcut is the identity, or a 1x1 conv (stride s) + BN when the shape changes.
    No conv has a bias (the BatchNorm after it would cancel it), as in ``ResidualBlock.basic``.
    """

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.main = nn.Sequential(
            *conv_bn_relu(c_in, c_out, 3, stride, 1, conv_bias=False),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(c_out))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.main(x) + self.shortcut(x))


def _flat_features(features, input_shape):
    """Number of features after ``features`` for one (C, H, W) sample."""
    with torch.no_grad():
        return features(torch.zeros(1, *input_shape)).numel()


def mini_resnet(input_shape=(1, 64, 64), num_classes=4, conv_bias=True):
    c = input_shape[0]
    return nn.Sequential(
        *conv_bn_relu(c, 64, 7, 2, 3, conv_bias), nn.MaxPool2d(3, 2, padding=1),
        BasicBlock(64, 64), BasicBlock(64, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),                # N,64,h,w -> N,64
        nn.Linear(64, num_classes))


def cnn5(input_shape=(1, 64, 64), num_classes=4, conv_bias=True):
    layers, c = [], input_shape[0]
    for f in (64, 128, 256, 512, 512):
        layers += conv_bn_relu(c, f, conv_bias=conv_bias) + [nn.MaxPool2d(2)]
        c = f
    features = nn.Sequential(*layers, nn.Flatten())           # N,512,h,w -> N,512*h*w
    n = _flat_features(features, input_shape)
    return nn.Sequential(*features, nn.Linear(n, 512), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(512, num_classes))


def mini_vgg(input_shape=(1, 64, 64), num_classes=4, conv_bias=True):
    layers, c = [], input_shape[0]
    for f in (64, 128, 256):
        layers += conv_bn_relu(c, f, conv_bias=conv_bias) + conv_bn_relu(f, f, conv_bias=conv_bias)
        layers.append(nn.MaxPool2d(2))
        c = f
    features = nn.Sequential(*layers, nn.Flatten())           # N,256,h,w -> N,256*h*w
    n = _flat_features(features, input_shape)
    return nn.Sequential(*features,
                         nn.Linear(n, 512), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(512, num_classes))


def init_like_minicnn(model, seed=0):
    """He (Kaiming normal, fan-in, gain sqrt(2)) weights, zero biases, BN gamma=1 beta=0."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


BUILDERS = {"mini_resnet": mini_resnet, "cnn5": cnn5, "mini_vgg": mini_vgg}


def build(name, input_shape=(1, 64, 64), num_classes=4, seed=0, conv_bias=True):
    """The PyTorch twin of ``minicnn.models.build(name, input_shape, num_classes, seed)``."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(BUILDERS)}")
    model = BUILDERS[name](tuple(input_shape), num_classes, conv_bias=conv_bias)
    return init_like_minicnn(model, seed)


def copy_from_minicnn(model, mc_model):
    """Load a minicnn model's params and buffers into its PyTorch twin (same order of layers).

    minicnn Dense W is (in, out), torch Linear weight is (out, in): transposed on the way.
    Raises ValueError when the two do not line up (different architecture).
    """
    import numpy as np
    mc_params = [v for k, v in mc_model.params.items()]
    mc_buffers = [v for k, v in mc_model.buffers.items() if k.endswith(("running_mean", "running_var"))]
    t_params = list(model.parameters())
    t_buffers = [b for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))]
    if len(mc_params) != len(t_params) or len(mc_buffers) != len(t_buffers):
        raise ValueError(f"minicnn has {len(mc_params)} params/{len(mc_buffers)} buffers, "
                         f"torch {len(t_params)}/{len(t_buffers)}")
    with torch.no_grad():
        for src, dst in zip(mc_params + mc_buffers, t_params + t_buffers):
            a = np.asarray(src)
            if a.ndim == 2:                                        # Dense (in, out) -> (out, in)
                a = a.T
            if tuple(a.shape) != tuple(dst.shape):
                raise ValueError(f"shape mismatch: minicnn {a.shape} vs torch {tuple(dst.shape)}")
            dst.copy_(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))
    return model


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    for name in MODEL_NAMES:
        for size in (64, 150):
            m = build(name, (1, size, size), 4)
            print(f"{name:12s} {size:3d}x{size:<3d} params={count_params(m):>11,d} "
                  f"out={tuple(m(torch.zeros(2, 1, size, size)).shape)}")
