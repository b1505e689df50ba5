"""Learning-rate schedules: functions ``epoch -> lr`` (epoch counts from 0).

``fit`` asks the schedule for the learning rate at the start of every epoch and sets
``optimizer.lr`` to it. A schedule is any callable, so ``lambda e: 1e-3 * 0.9 ** e`` works too.

    constant   lr(e) = lr0
    step       lr(e) = lr0 * drop ** (e // every)
    cosine     lr(e) = min_lr + (lr0 - min_lr) * (1 + cos(pi * e / epochs)) / 2
               (after ``warmup`` epochs rising linearly: lr(e) = lr0 * (e + 1) / (warmup + 1))
"""
import math


def constant(lr):
    """The same learning rate every epoch."""
    return lambda epoch: float(lr)


def step(lr, every, drop=0.1):
    """Multiply the learning rate by ``drop`` every ``every`` epochs."""
    if every < 1:
        raise ValueError(f"step schedule: every must be >= 1 epoch, got {every}")
    return lambda epoch: float(lr * drop ** (epoch // every))


def cosine(lr, epochs, min_lr=0.0, warmup=0):
    """Linear warm-up for ``warmup`` epochs, then half a cosine from ``lr`` down towards ``min_lr``."""
    if epochs < 1 or warmup < 0:
        raise ValueError(f"cosine schedule: epochs must be >= 1 and warmup >= 0, got epochs "
                         f"{epochs}, warmup {warmup}")

    def schedule(epoch):
        if epoch < warmup:
            return float(lr * (epoch + 1) / (warmup + 1))
        t = (epoch - warmup) / max(1, epochs - warmup)           # 0 at the first epoch after warm-up
        return float(min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0))))
    return schedule


SCHEDULES = ("constant", "step", "cosine")


def get_schedule(spec, lr, epochs):
    """Turn ``spec`` into a callable ``epoch -> lr``.

    spec: None or "constant"; "cosine"; "step" (x0.1 at 1/3 and 2/3 of the epochs); or a callable,
          returned unchanged.
    """
    if callable(spec):
        return spec
    if spec is None or spec == "constant":
        return constant(lr)
    if spec == "cosine":
        return cosine(lr, epochs)
    if spec == "step":
        return step(lr, every=max(1, math.ceil(epochs / 3)))
    raise ValueError(f"unknown learning-rate schedule {spec!r}; choose one of "
                     f"{', '.join(SCHEDULES)} or pass a function epoch -> lr")
