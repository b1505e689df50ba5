"""Grad-CAM (Selvaraju et al., 2017): where in the scan the model looked to score a class.

For a conv layer with output A (K channels of h x w) and the score y_c of class c (the logit,
before softmax):

    alpha_k = mean over (i, j) of dy_c / dA_k[i, j]      (K,)   how much channel k pushes class c
    cam     = ReLU( sum_k alpha_k * A_k )                (h, w) where those channels fired

then upsampled (bilinear) to the image size and scaled to [0, 1].

dy_c / dA comes from minicnn's own backward pass through the layers after A, run after the
inference forward (BatchNorm on running statistics, Dropout off) exactly as when predicting:
every layer's backward differentiates the forward it last ran, in either mode (BatchNorm2D and
Dropout as the fixed affine maps they are at inference). Side effect: the layers after A have
their ``grads`` and ``cache`` overwritten (as by any backward).
"""
import numpy as np

from minicnn.layers import no_grad
from minicnn.losses import softmax
from minicnn.viz._checks import class_indices, display_batch
from minicnn.viz._plot import display_image, new_figure, save, show_image
from minicnn.viz.walk import as_batch, conv_units, flat_layers


def find_layer(layers, layer=None):
    """Index into ``layers`` (from flat_layers) of the Grad-CAM target.

    layer: None = the output of the last conv unit (last Conv2D with its BatchNorm2D/ReLU, or
    last ResidualBlock), i.e. the last spatial feature map before pooling/flattening;
    a name from flat_layers ("12", "4"); an int index; or the Layer object itself.
    """
    if layer is None:
        units = conv_units(layers)
        if not units:
            raise ValueError("the model has no Conv2D or ResidualBlock to compute Grad-CAM on")
        return units[-1][1]
    if isinstance(layer, int) and -len(layers) <= layer < len(layers):
        return layer % len(layers)
    for i, (name, obj) in enumerate(layers):
        if obj is layer or name == layer:
            return i
    raise ValueError(f"no layer {layer!r}; the model's layers are: {', '.join(n for n, _ in layers)}")


class CAMPass:
    """One forward of ``x`` keeping the target activation; ``cam(c)`` then backprops class c.

    x: (C, H, W) or (N, C, H, W) model input. Attributes: activation A (N, K, h, w), logits
    (N, classes), probs (N, classes), layer_name, image_size (H, W).
    The backward caches live in the layers: run ``cam``/``gradient`` before the model's next forward.
    """

    def __init__(self, model, x, layer=None):
        x = as_batch(x)
        self.image_size = x.shape[2:]
        layers = flat_layers(model)
        t = find_layer(layers, layer)
        self.layer_name = f"{layers[t][0]} ({type(layers[t][1]).__name__})"
        a = x
        with no_grad():                                     # no backward reaches these layers
            for _, obj in layers[:t + 1]:
                a = obj.forward(a, training=False)
        if a.ndim != 4:
            raise ValueError(f"Grad-CAM needs a (N, K, h, w) feature map; layer {self.layer_name} "
                             f"outputs shape {a.shape}")
        self.activation = a                                 # N,K,h,w
        self._after = [obj for _, obj in layers[t + 1:]]
        for obj in self._after:
            a = obj.forward(a, training=False)
        self.logits = a                                     # N,classes
        self.probs = softmax(a.astype(np.float64))

    def gradient(self, class_index):
        """dy_c / dA: (N, K, h, w); class_index an int in [0, K) or one such int per image (N,)."""
        n, k = self.logits.shape
        c = class_indices(class_index, n, k, "class_index", scalar_ok=True)
        onehot = np.zeros_like(self.logits)
        onehot[np.arange(n), np.broadcast_to(c, (n,))] = 1.0   # d y_c / d logits
        d = onehot
        for obj in reversed(self._after):
            d = obj.backward(d)                             # the chain rule, last layer first
        return d

    def cam(self, class_index=None):
        """Heatmaps (N, H, W) in [0, 1] for class_index (None = each image's predicted class)."""
        if class_index is None:
            class_index = self.probs.argmax(axis=1)
        alpha = self.gradient(class_index).mean(axis=(2, 3))              # N,K
        cam = np.maximum(np.einsum("nk,nkhw->nhw", alpha, self.activation), 0)   # N,h,w
        heat = np.stack([upsample_bilinear(c, self.image_size) for c in cam])    # N,H,W
        top = heat.max(axis=(1, 2), keepdims=True)
        return np.divide(heat, top, out=np.zeros_like(heat), where=top > 0)


def grad_cam(model, x, class_index=None, layer=None):
    """Grad-CAM heatmaps (N, H, W) in [0, 1] and probabilities (N, classes) for input x.

    x: (C, H, W) or (N, C, H, W), preprocessed as in training. class_index: None = predicted,
    an int in [0, classes), or one such int per image (N,); negative indices are refused.
    """
    p = CAMPass(model, x, layer)
    return p.cam(class_index), p.probs


def upsample_bilinear(a, size):
    """Resize a 2-D map (h, w) to size (H, W) by bilinear interpolation (pixel centres aligned).

    Output pixel (i, j) samples the input at y = (i + 0.5) * h / H - 0.5 (clipped to the edge).
    """
    a = np.asarray(a, dtype=np.float64)
    (h, w), (H, W) = a.shape, size

    def axis(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(src).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0   # left index, right index, weight

    y0, y1, wy = axis(h, H)
    x0, x1, wx = axis(w, W)
    top = a[y0][:, x0] * (1 - wx) + a[y0][:, x1] * wx       # H,W
    bottom = a[y1][:, x0] * (1 - wx) + a[y1][:, x1] * wx    # H,W
    return top * (1 - wy)[:, None] + bottom * wy[:, None]


def plot_gradcam(model, x, path, images=None, labels=None, classes=None, all_classes=False,
                 layer=None, alpha=0.45):
    """One row per image: the scan, then the Grad-CAM heatmap over it. Returns the Path.

    x:           (N, C, H, W) model inputs (or one (C, H, W)).
    images:      the same scans for display (uint8, (N, C, H, W), C = 1 or 3); default: x.
    labels:      optional true classes (N,) in [0, classes), shown over the scan.
    classes:     one name per model output (default "class 0", ...).
    all_classes: one heatmap per class instead of only the predicted class.
    """
    x = as_batch(x)
    shown = "images" if images is not None else "x (shown as the scan when images is None)"
    images = x if images is None else np.asarray(images)
    images = images[None] if images.ndim == 3 else images   # one scan (C, H, W) -> 1,C,H,W
    display_batch(images, len(x), shown, size=x.shape[2:])
    p = CAMPass(model, x, layer)
    n, k = p.probs.shape
    classes = [f"class {c}" for c in range(k)] if classes is None else list(classes)
    if len(classes) != k:
        raise ValueError(f"classes must name the model's {k} outputs, got {len(classes)} names")
    if labels is not None:
        labels = class_indices(labels, n, k, "labels")
    pred = p.probs.argmax(axis=1)
    targets = list(range(k)) if all_classes else [None]
    heats = [p.cam(c) for c in targets]                     # each N,H,W
    cols = 1 + len(targets)
    fig = new_figure(2.3 * cols + 0.8, 2.5 * n + 0.6)
    _, c_a, h_a, w_a = p.activation.shape
    fig.suptitle(f"Grad-CAM at layer {p.layer_name}, feature map {c_a}×{h_a}×{w_a}")
    axes = np.array(fig.subplots(n, cols)).reshape(n, cols)
    for i in range(n):
        show_image(axes[i, 0], images[i])
        truth = f"true: {classes[labels[i]]}" if labels is not None else f"image {i}"
        axes[i, 0].set_title(truth, fontsize=9)
        for j, (c, heat) in enumerate(zip(targets, heats), start=1):
            ax = axes[i, j]
            scan = display_image(images[i])
            ax.imshow(scan, cmap="gray" if scan.ndim == 2 else None, vmin=0, vmax=1)
            ax.imshow(heat[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            c = pred[i] if c is None else c
            mark = "pred " if all_classes and c == pred[i] else ("pred: " if not all_classes else "")
            color = "black" if labels is None or c != pred[i] or pred[i] == labels[i] else "firebrick"
            ax.set_title(f"{mark}{classes[c]} ({p.probs[i, c]:.2f})", fontsize=9, color=color)
    from matplotlib.cm import ScalarMappable  # matplotlib loads on the first figure (see _plot)
    from matplotlib.colors import Normalize  # (likewise)
    fig.colorbar(ScalarMappable(Normalize(0, 1), "jet"), ax=axes, shrink=0.6,
                 label="relative importance")
    return save(fig, path)
