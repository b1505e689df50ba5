"""Training, evaluating and using minicnn models.

    from minicnn import models
    from minicnn.data import load_bundled, train_val_split
    from minicnn.training import fit, evaluate, predict

    train, val = train_val_split(load_bundled(), 0.2, seed=0)
    model = models.build("mini_resnet", input_shape=(1, 64, 64), num_classes=4)
    history = fit(model, train, val, epochs=10, out_dir="runs/mini_resnet")
    best = minicnn.load("runs/mini_resnet/best.npz")
    print(evaluate(best, val)["accuracy"])

Modules: loop (fit), history (History, Callback), schedules (learning rates), checkpoint
(best/last files, resume), metrics (evaluate), inference (predict: probabilities with the saved
preprocessing), averaging (WeightEMA: a moving average of the weights, ``fit(ema=...)``). The modules are not named after the functions, which would hide them.
"""
from minicnn.training.averaging import WeightEMA
from minicnn.training.checkpoint import load_checkpoint, save_checkpoint
from minicnn.training.metrics import (confusion_matrix, evaluate, format_report, per_class_metrics,
                                      selection_holdout)
from minicnn.training.loop import fit
from minicnn.training.history import Callback, History
from minicnn.training.inference import predict
from minicnn.training.schedules import get_schedule

__all__ = ["fit", "History", "Callback", "evaluate", "format_report", "confusion_matrix",
           "per_class_metrics", "predict", "save_checkpoint", "load_checkpoint", "get_schedule",
           "selection_holdout", "WeightEMA"]
