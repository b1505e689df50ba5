"""Evaluation: accuracy, per-class precision/recall/F1 and the confusion matrix.

    result = evaluate(model, test_ds)          # model from minicnn.load("runs/cnn5/best.npz")
    print(format_report(result))

Definitions, for class k with confusion matrix C (rows = true class, columns = predicted):
    precision_k = C[k, k] / sum_i C[i, k]   (of the images called k, the share that are k)
    recall_k    = C[k, k] / sum_j C[k, j]   (of the images that are k, the share found)
    f1_k        = 2 precision_k recall_k / (precision_k + recall_k)
    support_k   = sum_j C[k, j]             (how many test images are k)
A ratio with a zero denominator is reported as 0.0.

``selection_holdout`` answers a different question: the best of many models (or ensembles, or
configurations) on one validation split is partly the luck of that split; how good is the pick
once the picking is done on other images than the scoring?
"""
import numpy as np

from minicnn.losses import softmax, softmax_cross_entropy
from minicnn.training.checks import check_input_shape, check_raw_floats
from minicnn.training.inference import logits_in_batches, make_transform


def confusion_matrix(y_true, y_pred, num_classes):
    """int64 (K, K): entry [i, j] counts images of true class i predicted as j."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def _ratio(a, b):
    return float(a) / float(b) if b else 0.0


def per_class_metrics(cm, classes):
    """{class name: {"precision", "recall", "f1", "support"}} from a confusion matrix."""
    out = {}
    for k, name in enumerate(classes):
        precision = _ratio(cm[k, k], cm[:, k].sum())
        recall = _ratio(cm[k, k], cm[k, :].sum())
        out[name] = {"precision": precision, "recall": recall,
                     "f1": _ratio(2 * precision * recall, precision + recall),
                     "support": int(cm[k, :].sum())}
    return out


def evaluate(model, data, labels=None, preprocessing=None, classes=None, batch_size=64,
             exclude=None, preprocessed=False):
    """Score ``model`` on labelled images; returns a dict (JSON-friendly except ``probs``).

    data:          a Dataset, or images (N, C, H, W) with ``labels`` (N,).
    preprocessing: Standardizer or its dict for uint8 images; default the model's
                   ``metadata["preprocessing"]`` (what it was trained with). Float images are
                   used as they are, except float images of raw pixels (whole numbers 0..255)
                   for a model that standardises: refused (pass uint8), unless ``preprocessed``.
    classes:       class names; default the Dataset's, else the model's metadata, else "0", "1"...
    exclude:       optional bool mask (N,) of images to leave out of a second accuracy, e.g. test
                   images that are copies of training images: adds ``accuracy_excluding`` and
                   ``n_excluding`` (the accuracy on the images not excluded).
    Returns: accuracy, loss (mean cross-entropy), n, classes, confusion_matrix (list of lists,
    rows = true class), per_class, macro_f1, probs (N, K) array.
    """
    meta = getattr(model, "metadata", None) or {}
    if hasattr(data, "images"):
        images, labels = data.images, data.labels
        classes = classes or list(data.classes)
    else:
        images = np.asarray(data)
        if labels is None:
            raise ValueError("evaluate needs labels for image arrays")
    labels = np.asarray(labels, dtype=np.int64)
    if images.ndim != 4 or len(images) == 0 or labels.shape != (len(images),):
        raise ValueError(f"expected images (N, C, H, W) with N > 0 and labels (N,), got "
                         f"{images.shape} and {labels.shape}")
    check_input_shape(model, images)
    if not preprocessed:
        check_raw_floats(images, preprocessing or meta.get("preprocessing"))
    if images.dtype == np.uint8:
        transform = make_transform(preprocessing or meta.get("preprocessing"), model.dtype)
    else:
        transform = make_transform(None, model.dtype)
    logits = logits_in_batches(model, images, transform, batch_size).astype(np.float64)  # (N, K)
    return score(logits, labels, classes or meta.get("classes"), exclude)


def score(logits, labels, classes=None, exclude=None):
    """The ``evaluate`` result from scores (N, K): logits, or log-probabilities (e.g. the log of
    an ensemble's averaged probabilities: softmax(log p) = p). Same keys as ``evaluate``."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    k = logits.shape[1]
    classes = list(classes or [str(i) for i in range(k)])
    if len(classes) != k:
        raise ValueError(f"the model has {k} outputs but there are {len(classes)} class names")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}), got [{labels.min()}, {labels.max()}]")
    loss, _ = softmax_cross_entropy(logits, labels)
    pred = logits.argmax(axis=1)
    cm = confusion_matrix(labels, pred, k)
    per_class = per_class_metrics(cm, classes)
    result = {"accuracy": float((pred == labels).mean()), "loss": float(loss), "n": len(labels),
              "classes": classes, "confusion_matrix": cm.tolist(), "per_class": per_class,
              "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])),
              "probs": softmax(logits)}
    if exclude is not None:
        keep = ~np.asarray(exclude, dtype=bool)
        if keep.shape != labels.shape:
            raise ValueError(f"exclude: expected a bool mask of shape {labels.shape}, "
                             f"got {keep.shape}")
        result["n_excluding"] = int(keep.sum())
        result["accuracy_excluding"] = (float((pred[keep] == labels[keep]).mean()) if keep.any()
                                        else None)
    return result


def selection_holdout(correct, repeats=20, seed=0):
    """Accuracy of "pick the best candidate", estimated on images the pick did not see.

    correct: bool (M, N): candidate m (a model, an ensemble, a configuration) got image n right.
    Each repeat cuts the N images at random into two halves, picks the candidate with the best
    accuracy on one half (the first such, on ties) and scores it on the other half, then the other
    way round. The best candidate's accuracy on all N images (``best_in_sample``) is what choosing
    and reporting on the same images gives; the gap to ``mean`` is how much of it was luck.
    Returns {"mean", "std", "scores" (2 * repeats,), "best_in_sample", "best_index"}.
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2 or correct.shape[0] < 1 or correct.shape[1] < 2:
        raise ValueError(f"expected correct as (candidates, images) with at least 2 images, "
                         f"got shape {correct.shape}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(seed)
    n = correct.shape[1]
    scores = []
    for _ in range(repeats):
        first = rng.permutation(n) < n // 2                       # (N,) a random half
        for pick, held in ((first, ~first), (~first, first)):
            best = correct[:, pick].mean(axis=1).argmax()          # chosen on one half ...
            scores.append(correct[best, held].mean())              # ... scored on the other
    whole = correct.mean(axis=1)
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "scores": np.array(scores),
            "best_in_sample": float(whole.max()), "best_index": int(whole.argmax())}


def format_report(result):
    """A readable text report: accuracy, a per-class table and the confusion matrix."""
    classes = result["classes"]
    width = max(10, *(len(c) for c in classes))
    lines = [f"accuracy {result['accuracy']:.4f} on {result['n']} images   "
             f"(mean loss {result['loss']:.4f}, macro F1 {result['macro_f1']:.4f})"]
    if result.get("n_excluding") is not None:
        acc = result["accuracy_excluding"]
        lines.append(f"accuracy {'n/a' if acc is None else f'{acc:.4f}'} on the "
                     f"{result['n_excluding']} images that are not copies of training images")
    lines += ["", f"{'class':<{width}}  precision  recall     f1  support"]
    for name, m in result["per_class"].items():
        lines.append(f"{name:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:.4f}"
                     f"  {m['support']:7d}")
    lines += ["", "confusion matrix (rows = true class, columns = predicted)",
              " " * width + "  " + " ".join(f"{c[:7]:>7}" for c in classes)]
    for name, row in zip(classes, result["confusion_matrix"]):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:7d}" for v in row))
    return "\n".join(lines)
