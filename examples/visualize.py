"""Look inside a trained model: the report's figures and Grad-CAM, from the library API.

    python examples/visualize.py                              # runs/mini_resnet/best.npz
    python examples/visualize.py runs/cnn5/best.npz --out figures/cnn5
    python examples/visualize.py --docs                       # the README's figures, docs/img/

1. Load the checkpoint; its metadata says how it was trained and on which split it was chosen.
2. Rebuild that validation split and evaluate the model on it (it never trained on these images).
3. Draw each figure: curves, confusion matrix, feature maps, mistakes, Grad-CAM.
4. Grad-CAM's heatmaps are plain arrays too: print where the model looked in one scan.
(``minicnn report --checkpoint FILE`` does steps 1-3 and adds a Markdown page.)
"""
import argparse
import os

import numpy as np
from PIL import Image

import minicnn
from minicnn import viz
from minicnn.training import evaluate
from minicnn.training.inference import make_transform
from minicnn.viz.compare import compare_runs
from minicnn.viz.report import evaluation_data, pick_examples

ALL = ("curves", "confusion", "feature_maps", "mistakes", "gradcam")


def draw_all(checkpoint, out_dir, prefix="", which=ALL):
    """Draw the figures named in ``which`` for one checkpoint; return the paths written."""
    model = minicnn.load(checkpoint)                                                   # 1
    val, where = evaluation_data(model.metadata)                                       # 2
    result = evaluate(model, val)
    classes, probs, labels = result["classes"], result["probs"], val.labels
    print(f"{checkpoint}: accuracy {result['accuracy']:.4f} on {where}")
    x = make_transform(model.metadata["preprocessing"])(val.images)  # float32 NCHW, as in training
    examples = pick_examples(labels, probs)           # first well-classified scan of each class

    def path(name):
        return os.path.join(out_dir, f"{prefix}{name}.png")

    written = []                                                                       # 3
    history = os.path.join(os.path.dirname(checkpoint), "history.json")
    if "curves" in which and os.path.isfile(history):
        written.append(viz.plot_history(history, path("curves")))
    if "confusion" in which:
        written.append(viz.plot_confusion_matrix(result["confusion_matrix"], classes,
                                                 path("confusion")))
    if "feature_maps" in which:
        i = examples[0]
        written.append(viz.plot_feature_maps(model, x[i], path("feature_maps"), image=val.images[i],
                                             title=f"Feature maps of one {classes[labels[i]]} scan"))
    if "mistakes" in which:
        written.append(viz.plot_misclassified(val.images, labels, probs, classes, path("mistakes")))
    if "gradcam" in which:
        written.append(viz.plot_gradcam(model, x[examples], path("gradcam"),
                                        images=val.images[examples], labels=labels[examples],
                                        classes=classes))

    heat, p = viz.grad_cam(model, x[examples[:1]])          # 4: heat (1, H, W), values in [0, 1]
    row, col = np.unravel_index(heat[0].argmax(), heat[0].shape)
    print(f"Grad-CAM of a {classes[labels[examples[0]]]} scan (predicted "
          f"{classes[p[0].argmax()]}, p={p[0].max():.2f}): hottest at row {row}, column {col}; "
          f"{np.mean(heat[0] > 0.5):.0%} of the scan is above half the peak")
    return written


def docs_figures(runs="runs", out="docs/img"):
    """The README's figures: Mini-ResNet's full set, the other two models' curves, confusion
    matrices and Grad-CAM, and the comparison; saved with a 256-colour palette (small files)."""
    written, found = [], []
    for name in ("mini_resnet", "cnn5", "mini_vgg"):
        checkpoint = os.path.join(runs, name, "best.npz")
        if not os.path.isfile(checkpoint):
            print(f"skipping {name}: no {checkpoint} (train it: python examples/train_{name}.py)")
            continue
        found.append(os.path.join(runs, name))
        which = ALL if name == "mini_resnet" else ("curves", "confusion", "gradcam")
        written += draw_all(checkpoint, out, prefix=f"{name}_", which=which)
    if found:
        written += compare_runs(found, out)                # compare.md and compare.png
    for path in written:
        if str(path).endswith(".png"):
            im = Image.open(path).convert("RGB")          # octree keeps grays gray
            im.quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    return written


def main():
    p = argparse.ArgumentParser(description="Draw every figure for a minicnn checkpoint.")
    p.add_argument("checkpoint", nargs="?", default="runs/mini_resnet/best.npz")
    p.add_argument("--out", help="output folder (default: <checkpoint folder>/figures)")
    p.add_argument("--docs", action="store_true", help="draw the README's figures into docs/img/ "
                   "from runs/mini_resnet, runs/cnn5 and runs/mini_vgg")
    args = p.parse_args()
    if args.docs:
        written = docs_figures()
    else:
        written = draw_all(args.checkpoint, args.out or
                           os.path.join(os.path.dirname(args.checkpoint), "figures"))
    for path in written:
        print("wrote", path)


if __name__ == "__main__":
    main()
