"""``fit``, ``evaluate`` and ``predict`` under a student's plausible mistakes.

Each case used to give a wrong result without a word, or an error from deep inside NumPy; now it
is a ValueError that names the argument (``minicnn.training.checks``):
- an optimizer built for another model (it trained nothing: the model's weights never moved);
- a model whose outputs do not match the data's classes (it trained, and failed at predict);
- a schedule that gives a negative or NaN learning rate (gradient ascent);
- float images of raw pixels given to ``evaluate`` (scored without the standardisation);
- images of another size than the model was trained on (scored as they were);
- epochs, batch size or seed that are not whole numbers in range; augment or callbacks of the
  wrong kind.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.training import evaluate, fit, predict
from helpers import tiny_data
from test_training import TRAIN, VAL, tiny_model


def fit_tiny(model=None, **kwargs):
    model = model or tiny_model()
    kwargs.setdefault("optimizer", mc.Adam(model, lr=0.05))
    return model, fit(model, TRAIN, VAL, **{"epochs": 1, "batch_size": 8, "verbose": False,
                                            **kwargs})


@pytest.fixture(scope="module")
def trained():
    return fit_tiny()[0]


def test_an_optimizer_of_another_model_is_refused_before_training():
    model = tiny_model()
    before = model.params["0.W"].copy()
    with pytest.raises(ValueError, match="not this model's parameters .*Adam\\(model"):
        fit_tiny(model, optimizer=mc.Adam(tiny_model(), lr=0.05))
    np.testing.assert_array_equal(model.params["0.W"], before)
    fit_tiny(model)                                        # its own optimizer: it trains
    assert not np.array_equal(model.params["0.W"], before)


def test_outputs_must_match_the_classes():
    four = mc.Sequential([mc.Conv2D(1, 4, 3, padding=1), mc.GlobalAvgPool2D(), mc.Dense(4, 4)],
                         input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="4 outputs but the data has 3 classes .*num_classes=3"):
        fit_tiny(four)
    two = mc.Sequential([mc.Conv2D(1, 4, 3, padding=1), mc.GlobalAvgPool2D(), mc.Dense(4, 2)])
    x, y = TRAIN.images, TRAIN.labels                      # a pair: no class names, labels 0..2
    with pytest.raises(ValueError, match=r"labels: label 2 is out of range for 2 classes"):
        fit(two, (x, y), epochs=1, verbose=False)


@pytest.mark.parametrize("lr", [-1.0, float("nan"), float("inf")])
def test_a_schedule_must_give_a_usable_learning_rate(lr):
    with pytest.raises(ValueError, match=f"learning rate of {lr} for epoch 2"):
        fit_tiny(epochs=3, lr_schedule=lambda e: 0.05 if e == 0 else lr)
    fit_tiny(epochs=2, lr_schedule=lambda e: 0.0)          # 0 holds the weights still: allowed


@pytest.mark.parametrize("name, value", [
    ("epochs", -1), ("epochs", 0), ("epochs", 2.0), ("batch_size", 0), ("batch_size", 4.0),
    ("batch_size", True), ("seed", None), ("seed", -1), ("early_stopping", 0)])
def test_counts_must_be_whole_numbers(name, value):
    with pytest.raises(ValueError, match=f"{name}.* must be a whole number >= "):
        fit_tiny(**{name: value})


@pytest.mark.parametrize("kwargs, match", [
    (dict(augment="flip"), "augment must be None or a function"),
    (dict(callbacks=object()), "callbacks must be a list of Callback objects"),
    (dict(callbacks=[lambda *a: None]), "has no on_epoch_begin, on_batch_end, on_epoch_end")])
def test_augment_and_callbacks_of_the_wrong_kind(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_tiny(**kwargs)


def test_evaluate_refuses_raw_pixels_as_floats(trained):
    raw = VAL.images.astype(np.float32)                    # a common slip: the same pixels, float
    with pytest.raises(ValueError, match="raw pixels.*astype\\(np.uint8\\)"):
        evaluate(trained, raw, VAL.labels)
    right = evaluate(trained, VAL.images, VAL.labels)["loss"]
    assert evaluate(trained, VAL)["loss"] == right
    std = mc.data.Standardizer.from_dict(trained.metadata["preprocessing"])
    ready = std.transform(VAL.images).astype(np.float32)   # network input: scored as it is
    assert evaluate(trained, ready, VAL.labels)["loss"] == pytest.approx(right, rel=1e-5)
    assert evaluate(trained, raw, VAL.labels, preprocessed=True)["loss"] != pytest.approx(right)


def test_images_of_another_size_are_refused(trained):
    big = tiny_data(6, size=16).images                     # GAP would take them, wrongly
    with pytest.raises(ValueError, match=r"trained on images of shape \(1, 8, 8\).*got \(1, 16, 16\)"):
        predict(trained, big)
    with pytest.raises(ValueError, match=r"trained on images of shape \(1, 8, 8\)"):
        evaluate(trained, big, np.zeros(6, int))


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_inference_batch_size_must_be_a_whole_number(trained, batch_size):
    for call in (lambda: predict(trained, VAL.images, batch_size=batch_size),
                 lambda: evaluate(trained, VAL, batch_size=batch_size)):
        with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
            call()
