"""Evaluation metrics on a hand-made example whose every number can be checked on paper.

Six images, three classes. True classes 0 0 0 1 1 2, predicted 0 0 1 1 2 2, so the confusion
matrix (rows = true, columns = predicted) is

            pred 0  pred 1  pred 2
    true 0     2       1       0        recall 2/3, precision 2/2
    true 1     0       1       1        recall 1/2, precision 1/2
    true 2     0       0       1        recall 1/1, precision 1/2

The "model" is a Flatten layer fed with images that already are the logits (N, 1, 1, K): the
predicted class has logit 3, the others 0, so the loss is also known in closed form:
    cross-entropy = log(e^3 + 2) - 3   where the prediction is right,   log(e^3 + 2) where wrong.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.training import confusion_matrix, evaluate, format_report, per_class_metrics

Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2])
CLASSES = ["glioma", "meningioma", "pituitary"]
LOGITS = (3.0 * np.eye(3)[Y_PRED]).reshape(6, 1, 1, 3)      # float images = logits: no preprocessing
MODEL = mc.Sequential([mc.Flatten(dtype=np.float64)])


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_per_class_precision_recall_f1():
    m = per_class_metrics(confusion_matrix(Y_TRUE, Y_PRED, 3), CLASSES)
    keys = ("precision", "recall", "f1", "support")
    assert m["glioma"] == pytest.approx(dict(zip(keys, (1.0, 2 / 3, 0.8, 3))))
    assert m["meningioma"] == pytest.approx(dict(zip(keys, (0.5, 0.5, 0.5, 2))))
    assert m["pituitary"] == pytest.approx(dict(zip(keys, (0.5, 1.0, 2 / 3, 1))))


def test_a_class_never_predicted_has_zero_precision_not_nan():
    m = per_class_metrics(confusion_matrix([0, 1], [0, 0], 2), ["a", "b"])
    assert m["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_evaluate():
    r = evaluate(MODEL, LOGITS, Y_TRUE, classes=CLASSES)
    assert r["accuracy"] == pytest.approx(4 / 6) and r["n"] == 6
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    right = Y_TRUE == Y_PRED
    assert r["loss"] == pytest.approx(np.mean(np.log(np.e ** 3 + 2) - 3 * right))
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["probs"].shape == (6, 3) and np.allclose(r["probs"].sum(axis=1), 1)
    assert "accuracy_excluding" not in r


def test_accuracy_without_the_excluded_images():
    """E.g. test images that are copies of training images: leave the two wrong ones out."""
    r = evaluate(MODEL, LOGITS, Y_TRUE, classes=CLASSES, exclude=~(Y_TRUE == Y_PRED))
    assert (r["accuracy_excluding"], r["n_excluding"]) == (1.0, 4)
    r = evaluate(MODEL, LOGITS, Y_TRUE, exclude=np.ones(6, bool))
    assert (r["accuracy_excluding"], r["n_excluding"]) == (None, 0)


def test_report_text():
    text = format_report(evaluate(MODEL, LOGITS, Y_TRUE, classes=CLASSES,
                                  exclude=[0, 0, 1, 0, 0, 0]))
    assert "accuracy 0.6667 on 6 images" in text
    assert "accuracy 0.8000 on the 5 images that are not copies" in text
    assert "meningioma     0.5000  0.5000  0.5000        2" in text
    assert text.splitlines()[-3].split()[1:] == ["2", "1", "0"]      # glioma's confusion row


def test_bad_input():
    with pytest.raises(ValueError, match="needs labels"):
        evaluate(MODEL, LOGITS)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        evaluate(MODEL, LOGITS, [0, 1, 2, 3, 0, 0])
    with pytest.raises(ValueError, match="3 outputs but there are 2 class names"):
        evaluate(MODEL, LOGITS, Y_TRUE, classes=["a", "b"])
