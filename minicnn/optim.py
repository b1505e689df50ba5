"""Optimizers: SGD (with momentum), Adam and RMSprop, updating a model's parameters in place.

    opt = Adam(model, lr=1e-3)
    loss, dlogits = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(dlogits)          # fills model.grads
    opt.step()                       # p -= ...  on every array in model.params

An optimizer takes a model (anything with ``.params`` and ``.grads`` dicts) or the two dicts.
The parameter arrays are captured once and updated **in place** (``p -= ...``), never rebound,
so the layers see the new values. Gradients are read afresh at every ``step()``.

``lr`` is a plain attribute: set ``opt.lr = ...`` between steps for a learning-rate schedule.
``state_dict()`` returns only arrays and numbers (keys "t", "lr", "m.0.W", ...), so a training
loop can store it in a checkpoint .npz and resume with ``load_state_dict``.

Each rule is written twice: ``_update_reference``, the formulas in plain NumPy (read this one),
and the same arithmetic fused into one Numba loop per array (``minicnn.kernels.optim_fast``),
which ``step()`` uses for float32/float64 contiguous arrays. The tests hold them bit-for-bit equal.
"""
import numpy as np

from minicnn.kernels import optim_fast



def _finite(name, value):
    """``float(value)`` if it is a finite real number >= 0 (not a bool), else ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)

class Optimizer:
    """Shared plumbing: the params/grads dicts, per-parameter state arrays, state_dict."""

    state_names = ()  # names of the per-parameter state arrays, e.g. ("m", "v")

    def __init__(self, model_or_params, grads=None, lr=0.01, weight_decay=0.0):
        if grads is None:
            if not (hasattr(model_or_params, "params") and hasattr(model_or_params, "grads")):
                raise ValueError("pass a model (with .params and .grads) or the two dicts: "
                                 "Optimizer(params, grads)")
            model = model_or_params
            self._get_grads = lambda: model.grads  # a container builds its grads dict on access
            params = model.params
        else:
            params = model_or_params
            self._get_grads = lambda: grads
        self.params = dict(params)  # name -> the model's own array (the same object)
        self.lr = _finite("lr", lr)
        self.weight_decay = _finite("weight_decay", weight_decay)
        self.t = 0  # number of step() calls so far
        self.state = {s: {k: np.zeros_like(p) for k, p in self.params.items()} for s in self.state_names}

    def _grads(self):
        grads = self._get_grads()
        missing = [k for k in self.params if k not in grads]
        if missing:
            raise ValueError(f"no gradient for parameter {missing[0]!r}")
        return grads

    def step(self):
        """Update every parameter once from the current gradients."""
        self.t += 1
        grads = self._grads()
        for k, p in self.params.items():
            g = grads[k]
            if g.shape != p.shape:
                raise ValueError(f"gradient {k!r} has shape {g.shape}, parameter has {p.shape}")
            self._update(k, p, g)

    def _update(self, key, p, g):
        """Update parameter ``key`` (array p) in place from its gradient g: the fast kernel."""
        raise NotImplementedError

    def _update_reference(self, key, p, g):
        """The same update in plain NumPy: the formulas in the class docstring, line by line."""
        raise NotImplementedError

    def state_dict(self):
        """{"t": int, "lr": float, "<state>.<param>": array, ...} -- plain arrays and numbers."""
        d = {"t": self.t, "lr": self.lr}
        for s, arrays in self.state.items():
            d.update({f"{s}.{k}": a.copy() for k, a in arrays.items()})
        return d

    def load_state_dict(self, d):
        """Restore what ``state_dict`` returned (e.g. read back from a checkpoint file)."""
        for s, arrays in self.state.items():
            for k, a in arrays.items():
                key = f"{s}.{k}"
                if key not in d:
                    raise ValueError(f"optimizer state has no entry {key!r}")
                if np.shape(d[key]) != a.shape:
                    raise ValueError(f"optimizer state {key!r} has shape {np.shape(d[key])}, "
                                     f"parameter has {a.shape}")
        expected = {"t", "lr"} | {f"{s}.{k}" for s in self.state for k in self.params}
        extra = sorted(set(d) - expected)
        if extra:
            raise ValueError(f"unexpected optimizer state entry {extra[0]!r}")
        for s, arrays in self.state.items():
            for k, a in arrays.items():
                a[...] = d[f"{s}.{k}"]  # in place, like the parameters
        self.t = int(d.get("t", 0))
        if "lr" in d:
            self.lr = float(d["lr"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch's rule).

        g  = grad + weight_decay * p          (L2 penalty (wd/2)|p|^2 folded into the gradient)
        v  = momentum * v + g                 (v starts at 0; skipped when momentum == 0)
        p -= lr * v
    """

    def __init__(self, model_or_params, grads=None, lr=0.01, momentum=0.0, weight_decay=0.0):
        self.momentum = _finite("momentum", momentum)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.state_names = ("velocity",) if momentum else ()
        super().__init__(model_or_params, grads, lr, weight_decay)

    def _update(self, key, p, g):
        v = self.state["velocity"][key] if self.momentum else None
        if not optim_fast.supported(p, g, *([] if v is None else [v])):
            return self._update_reference(key, p, g)
        optim_fast.sgd_update(p, g, v, self.lr, self.momentum, self.weight_decay)

    def _update_reference(self, key, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = self.state["velocity"][key]
            v *= self.momentum
            v += g
            g = v
        p -= (self.lr * g).astype(p.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction exactly as ``torch.optim.Adam``.

    At step t (starting at 1), with m and v starting at 0:
        m = beta1 * m + (1 - beta1) * g              running mean of gradients
        v = beta2 * v + (1 - beta2) * g^2            running mean of squared gradients
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)     undo the pull towards 0
        p -= lr * m_hat / (sqrt(v_hat) + eps)        eps is added after the square root

    weight_decay is **decoupled** (AdamW, Loshchilov & Hutter 2019, as ``torch.optim.AdamW``):
    p -= lr * weight_decay * p before the Adam step. Folding an L2 term into g instead would be
    rescaled by 1/sqrt(v_hat), so weights with large gradients would barely be decayed.
    """

    state_names = ("m", "v")

    def __init__(self, model_or_params, grads=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0):
        b1, b2 = (_finite("betas", b) for b in betas)
        if not (b1 < 1 and b2 < 1):
            raise ValueError(f"need 0 <= beta < 1, got betas={betas}")
        self.beta1, self.beta2, self.eps = b1, b2, _finite("eps", eps)
        super().__init__(model_or_params, grads, lr, weight_decay)

    def _update(self, key, p, g):
        m, v = self.state["m"][key], self.state["v"][key]
        if not optim_fast.supported(p, g, m, v):
            return self._update_reference(key, p, g)
        optim_fast.adam_update(p, g, m, v, self.lr, self.beta1, self.beta2, self.eps,
                               self.weight_decay, self.t)

    def _update_reference(self, key, p, g):
        m, v = self.state["m"][key], self.state["v"][key]
        if self.weight_decay:
            p *= 1 - self.lr * self.weight_decay
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        bc1 = 1 - self.beta1 ** self.t
        bc2 = 1 - self.beta2 ** self.t
        denom = np.sqrt(v) / np.sqrt(bc2) + self.eps
        p -= ((self.lr / bc1) * m / denom).astype(p.dtype, copy=False)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e) exactly as ``torch.optim.RMSprop`` (not centred).

    With v (and b) starting at 0:
        g  = grad + weight_decay * p              (L2 folded into the gradient, as torch does)
        v  = alpha * v + (1 - alpha) * g^2        running mean of squared gradients
        u  = g / (sqrt(v) + eps)                  each weight's step scaled by its gradient size
        b  = momentum * b + u;  u = b             (only when momentum > 0)
        p -= lr * u
    No fused kernel: ``step()`` runs the NumPy formulas (the sweep is its only heavy user).
    """

    def __init__(self, model_or_params, grads=None, lr=1e-3, alpha=0.99, eps=1e-8, momentum=0.0,
                 weight_decay=0.0):
        self.alpha, self.eps = _finite("alpha", alpha), _finite("eps", eps)
        self.momentum = _finite("momentum", momentum)
        if self.alpha >= 1 or self.momentum >= 1:
            raise ValueError(f"need 0 <= alpha < 1 and 0 <= momentum < 1, got "
                             f"alpha={alpha}, momentum={momentum}")
        self.state_names = ("square_avg", "momentum_buffer") if momentum else ("square_avg",)
        super().__init__(model_or_params, grads, lr, weight_decay)

    def _update(self, key, p, g):
        self._update_reference(key, p, g)

    def _update_reference(self, key, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = self.state["square_avg"][key]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        u = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            b = self.state["momentum_buffer"][key]
            b *= self.momentum
            b += u
            u = b
        p -= (self.lr * u).astype(p.dtype, copy=False)


#: The optimizers by name, with the learning rate each takes when none is given (Keras' defaults).
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2, "rmsprop": 1e-3}


def make(name, model, lr=None, momentum=0.9, weight_decay=0.0):
    """An optimizer by name (``DEFAULT_LR``'s keys), as ``minicnn train`` and ``sweep`` pick it.

    ``lr`` None: the optimizer's Keras default. ``momentum`` is SGD's (Adam and RMSprop ignore
    it); ``weight_decay`` is decoupled (AdamW) for Adam, added to the gradient for the others.
    """
    if name not in DEFAULT_LR:
        raise ValueError(f"optimizer: expected one of {', '.join(DEFAULT_LR)}, got {name!r}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "adam":
        return Adam(model, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(model, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return RMSprop(model, lr=lr, weight_decay=weight_decay)
