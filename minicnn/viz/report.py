"""One checkpoint, every figure, one Markdown page: what ``minicnn report`` writes.

    model = minicnn.load("runs/mini_resnet/best.npz")
    val, where = evaluation_data(model.metadata)          # the validation split it was chosen on
    write_report(model, val, "runs/mini_resnet/report", checkpoint="runs/mini_resnet/best.npz",
                 data_description=where)

report/ then holds curves.png, confusion.png, feature_maps.png, gradcam.png,
gradcam_classes.png, mistakes.png and report.md, which shows them with the headline numbers.
"""
import datetime
import os
from pathlib import Path

import numpy as np

from minicnn.atomic import write_text
from minicnn.data import (align_classes, data_dir, load_bundled, load_data, load_folder,
                          recorded_split, trained_on)
from minicnn.models import display_name
from minicnn.training import evaluate
from minicnn.training.checkpoint import fingerprint
from minicnn.training.inference import make_transform
from minicnn.viz.confusion import plot_confusion_matrix
from minicnn.viz.curves import plot_history
from minicnn.viz.feature_maps import plot_feature_maps
from minicnn.viz.gallery import plot_misclassified
from minicnn.viz.gradcam import plot_gradcam


def evaluation_data(meta, data=None):
    """(Dataset, description) to evaluate a checkpoint on, from its metadata.

    data None, or the folder the checkpoint was trained on: the validation split it was selected
    on, rebuilt from ``meta["split"]`` (fraction, seed, duplicates kept together), so no training
    image is scored; ValueError if the folder changed since (``check_unchanged``), and
    FileNotFoundError if it is gone. Any other folder (e.g. a Testing split): all of its images.
    """
    info = meta.get("split") or {}
    source = info.get("data", "bundled")
    folder = None if data is None else data_dir(os.fspath(data), split="Testing")
    if folder is not None and not trained_on(info, folder):
        ds = align_classes(load_folder(folder, meta["image_size"], meta["color"],
                                       crop=meta.get("crop", False)), meta["classes"])
        return ds, f"all {len(ds)} images of {data}"
    if source != "bundled" and not os.path.exists(source):
        raise FileNotFoundError(f"data folder {source} does not exist: the checkpoint was trained "
                                f"on it (moved or deleted since?); --data DIR scores another folder")
    if source == "bundled":
        ds = load_bundled()
        name = "the bundled dataset"
    else:
        ds = load_data(source, meta["image_size"], meta["color"], crop=meta.get("crop", False))
        name = source
    fraction, seed = info.get("val_fraction", 0.2), info.get("seed", meta.get("seed", 0))
    _, val, _ = recorded_split(ds, info, seed)
    check_unchanged(val, meta)
    val = align_classes(val, meta["classes"])
    return val, (f"the validation split of {name} ({fraction:.0%}, seed {seed}, {len(val)} "
                 f"images; not seen in training)")


def check_unchanged(val, meta, name="this checkpoint"):
    """Refuse a validation split rebuilt from ``meta["split"]`` that is not the one the checkpoint
    was selected on: its images and labels (``val``, in the training folder's class order) must
    have the ``fingerprint`` that training recorded in ``meta["val_data"]``. Once the folder has
    changed (an image added, removed or edited) the split moves, and images the model trained on
    would be scored as unseen. Checkpoints written before the fingerprint existed are not checked.
    """
    recorded = meta.get("val_data")
    if recorded is not None and fingerprint(val.images, val.labels) != recorded:
        source = (meta.get("split") or {}).get("data", "the training data")
        raise ValueError(f"the training folder {source} changed since {name} was trained: its "
                         f"validation split can no longer be rebuilt (it would score images the "
                         f"model trained on as unseen); pass --data DIR to score another folder")


def pick_examples(labels, probs, per_class=1):
    """Indices of the first correctly classified image(s) of each class (any image if none)."""
    pred = probs.argmax(axis=1)
    out = []
    for k in range(probs.shape[1]):
        idx = np.flatnonzero(labels == k)
        good = idx[pred[idx] == k]
        out += list((good if len(good) else idx)[:per_class])
    return out


def _metrics_table(result):
    rows = ["| class | precision | recall | F1 | images |", "|---|---:|---:|---:|---:|"]
    for name, m in result["per_class"].items():
        rows.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                    f"{m['support']} |")
    return "\n".join(rows)


def curves_caption(meta):
    """What the training curves show, and why a run's training numbers may not read like its
    validation ones (mixup and label smoothing change what the training loss is taken against)."""
    text = ("Loss and accuracy per epoch; the star marks the best validation epoch (the "
            "checkpoint kept as best.npz).")
    training = meta.get("training") or {}
    if training.get("mixup"):
        text += (f" This run trained with mixup (alpha {training['mixup']}): its training loss "
                 "and accuracy are taken on blended images, the accuracy against the label that "
                 "weighs more, so they sit below what the same weights score on whole images.")
    if training.get("label_smoothing"):
        text += (f" This run trained against labels smoothed by {training['label_smoothing']}, "
                 "so its training loss cannot fall to 0; validation scores the plain "
                 "cross-entropy.")
    return text


def write_report(model, dataset, out_dir, checkpoint=None, data_description="", history=None,
                 n_gradcam=1, max_channels=16, max_mistakes=16):
    """Evaluate ``model`` on ``dataset`` and write every figure plus report.md into ``out_dir``.

    dataset: a minicnn.data.Dataset (uint8 images) labelled in the model's class order.
    history: a History / dict / history.json path; default: history.json beside ``checkpoint``.
    n_gradcam: Grad-CAM images per class. Returns the Path of report.md.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = getattr(model, "metadata", None) or {}
    result = evaluate(model, dataset)
    classes, probs, labels = result["classes"], result["probs"], np.asarray(dataset.labels)
    to_input = make_transform(meta.get("preprocessing"), model.dtype)
    name = display_name(meta.get("model_name") or type(model).__name__)
    figures = []                                        # (section title, file, caption)

    if history is None and checkpoint is not None:
        beside = Path(checkpoint).parent / "history.json"
        history = beside if beside.is_file() else None
    if history is not None:
        plot_history(history, out / "curves.png", title=f"{name}: training history")
        figures.append(("Training curves", "curves.png", curves_caption(meta)))
    plot_confusion_matrix(result["confusion_matrix"], classes, out / "confusion.png",
                          title=f"{name}: confusion matrix")
    figures.append(("Confusion matrix", "confusion.png", "Rows are the true class, columns the "
                    "prediction; the right panel divides each row by its total (recall)."))
    first = pick_examples(labels, probs)[0]
    plot_feature_maps(model, to_input(dataset.images[first:first + 1])[0], out / "feature_maps.png",
                      image=dataset.images[first], max_channels=max_channels,
                      title=f"{name}: feature maps of one {classes[labels[first]]} scan")
    figures.append(("Feature maps", "feature_maps.png", "What each conv layer (or residual block) "
                    f"outputs for one image: the first {max_channels} channels, each scaled to "
                    "its own range."))
    idx = pick_examples(labels, probs, n_gradcam)
    x = to_input(dataset.images[idx])
    plot_gradcam(model, x, out / "gradcam.png", images=dataset.images[idx], labels=labels[idx],
                 classes=classes)
    plot_gradcam(model, x[:2], out / "gradcam_classes.png", images=dataset.images[idx[:2]],
                 labels=labels[idx[:2]], classes=classes, all_classes=True)
    figures.append(("Grad-CAM", "gradcam.png", "Where the model looked: the class-activation "
                    "map of the predicted class (red = most important) over the scan."))
    figures.append(("Grad-CAM for every class", "gradcam_classes.png", "The first two of those "
                    "scans, one map per class: what in the image speaks for each class "
                    "(probability in brackets)."))
    plot_misclassified(dataset.images, labels, probs, classes, out / "mistakes.png",
                       max_images=max_mistakes, title=f"{name}: most confident mistakes")
    figures.append(("Most confident mistakes", "mistakes.png", "Wrong predictions with the "
                    "highest predicted probability, true and predicted class over each scan."))

    when = datetime.date.today().isoformat()
    lines = [f"# {name}: minicnn report", ""]
    if checkpoint is not None:
        lines.append(f"Checkpoint `{checkpoint}`" + (f", epoch {meta['epoch']}" if "epoch" in meta
                                                     else "") + ".")
    lines += [f"Evaluated on {data_description or f'{len(labels)} labelled images'}, {when}.", "",
              f"**Accuracy {result['accuracy']:.1%}** on n = {result['n']} images "
              f"(macro F1 {result['macro_f1']:.3f}, mean cross-entropy {result['loss']:.3f}).", "",
              _metrics_table(result), ""]
    if "validation split" in (data_description or ""):
        lines += ["These are validation numbers (a split of the Training folder that the model "
                  "never trained on, but on which the best epoch was chosen), not results on the "
                  "official Testing split.", ""]
    for title, file, caption in figures:
        lines += [f"## {title}", "", f"![{title}]({file})", "", caption, ""]
    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path
