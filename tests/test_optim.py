"""SGD and Adam: the update rules, step by step, against hand arithmetic and against PyTorch.

Proves: Adam's first steps equal the formulas worked out on one number (bias correction
included); Adam, AdamW-style weight decay and SGD with momentum + weight decay match
torch.optim over several steps, and so does RMSprop; updates happen in place (a model's layers see them);
``lr`` can be changed between steps; state_dict() survives a trip through an .npz file and
resumes bit-for-bit; the fused Numba kernels give exactly the NumPy reference's numbers.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.kernels import optim_fast
from minicnn.optim import SGD, Adam, RMSprop
from minicnn.serialization import load_arrays, save_arrays


def test_adam_first_steps_by_hand():
    p = np.array([1.0])
    g = np.zeros(1)
    opt = Adam({"p": p}, {"p": g}, lr=0.1)       # betas (0.9, 0.999), eps 1e-8

    g[:] = 0.5
    opt.step()
    # m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 0.00025; bias-corrected: m_hat = 0.5, v_hat = 0.25
    # p = 1 - 0.1 * 0.5 / (sqrt(0.25) + 1e-8): the first step moves by ~lr whatever |g| is
    assert p[0] == pytest.approx(1 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-15)

    g[:] = -1.0
    opt.step()
    m = 0.9 * 0.05 + 0.1 * -1.0                  # -0.055
    v = 0.999 * 0.00025 + 0.001 * 1.0            # 0.00124975
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    expected = 1 - 0.1 * 0.5 / (0.5 + 1e-8) - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    assert p[0] == pytest.approx(expected, rel=1e-15)
    assert p[0] == pytest.approx(0.93661, abs=1e-5)   # the number a learner gets on paper

    g[:] = 0.0                                   # a zero gradient still moves p: momentum
    before = p[0]
    opt.step()
    assert p[0] != before


def _torch_run(torch, make_ours, make_theirs, steps=5, seed=0):
    """Run both optimizers on the same params and the same random gradients; return both params."""
    rng = np.random.default_rng(seed)
    params = {"0.W": rng.standard_normal((3, 4)), "0.b": rng.standard_normal(4),
              "2.main.0.W": rng.standard_normal((2, 3, 3, 3))}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    ours = make_ours(params, grads)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    theirs = make_theirs(list(tparams.values()))
    for _ in range(steps):
        for k in params:
            g = rng.standard_normal(params[k].shape)
            grads[k][...] = g
            tparams[k].grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
    return params, {k: t.detach().numpy() for k, t in tparams.items()}


@pytest.mark.parametrize("torch_name, weight_decay", [("Adam", 0.0), ("AdamW", 0.1)])
def test_adam_matches_pytorch(torch, torch_name, weight_decay):
    # our weight_decay is decoupled, as in torch.optim.AdamW (without decay, Adam == AdamW)
    ours, theirs = _torch_run(
        torch, lambda p, g: Adam(p, g, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay),
        lambda tp: getattr(torch.optim, torch_name)(tp, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                                    weight_decay=weight_decay))
    for k in ours:
        assert np.allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14), k


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_sgd_matches_pytorch(torch, momentum, weight_decay):
    ours, theirs = _torch_run(
        torch, lambda p, g: SGD(p, g, lr=0.05, momentum=momentum, weight_decay=weight_decay),
        lambda tp: torch.optim.SGD(tp, lr=0.05, momentum=momentum, weight_decay=weight_decay))
    for k in ours:
        assert np.allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14), k


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.5, 0.01)])
def test_rmsprop_matches_pytorch(torch, momentum, weight_decay):
    ours, theirs = _torch_run(
        torch, lambda p, g: RMSprop(p, g, lr=0.01, alpha=0.9, eps=1e-6, momentum=momentum,
                                    weight_decay=weight_decay),
        lambda tp: torch.optim.RMSprop(tp, lr=0.01, alpha=0.9, eps=1e-6, momentum=momentum,
                                       weight_decay=weight_decay))
    for k in ours:
        assert np.allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14), k


def _model_and_batch():
    model = mc.Sequential([mc.Dense(4, 8, rng=0), mc.ReLU(), mc.Dense(8, 3, rng=1)])
    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    return model, x, y


def _train_step(model, opt, x, y):
    loss, dlogits = mc.softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(dlogits)
    opt.step()
    return loss


@pytest.mark.parametrize("make", [lambda m: Adam(m, lr=1e-2), lambda m: SGD(m, lr=0.1, momentum=0.9),
                                  lambda m: RMSprop(m, lr=1e-2, momentum=0.9)])
def test_updates_the_model_in_place(make):
    model, x, y = _model_and_batch()
    w = model[0].params["W"]
    before = w.copy()
    opt = make(model)
    losses = [_train_step(model, opt, x, y) for _ in range(20)]
    assert model[0].params["W"] is w               # same array object, new values
    assert not np.allclose(w, before)
    assert w.dtype == np.float32 and opt.state_dict()["t"] == 20
    assert losses[-1] < losses[0]


def test_lr_is_settable():
    model, x, y = _model_and_batch()
    opt = Adam(model, lr=1e-2)
    _train_step(model, opt, x, y)
    opt.lr = 0.0                                    # e.g. the end of a schedule
    frozen = {k: v.copy() for k, v in model.params.items()}
    _train_step(model, opt, x, y)
    assert all(np.array_equal(model.params[k], frozen[k]) for k in frozen)


@pytest.mark.parametrize("make", [lambda m: Adam(m, lr=1e-2), lambda m: SGD(m, lr=0.1, momentum=0.9),
                                  lambda m: RMSprop(m, lr=1e-2, momentum=0.9)])
def test_state_dict_resumes_exactly(tmp_path, make):
    model_a, x, y = _model_and_batch()
    opt_a = make(model_a)
    for _ in range(3):
        _train_step(model_a, opt_a, x, y)
    save_arrays(tmp_path / "opt.npz", opt_a.state_dict())     # what a checkpoint would hold
    model_b, _, _ = _model_and_batch()
    for k, v in model_a.params.items():
        model_b.params[k][...] = v
    opt_b = make(model_b)
    opt_b.load_state_dict(load_arrays(tmp_path / "opt.npz"))
    for _ in range(2):
        _train_step(model_a, opt_a, x, y)
        _train_step(model_b, opt_b, x, y)
    for k in model_a.params:
        assert np.array_equal(model_a.params[k], model_b.params[k]), k


def test_state_dict_keys_and_errors():
    model, _, _ = _model_and_batch()
    state = Adam(model).state_dict()
    assert set(state) == {"t", "lr"} | {f"{s}.{k}" for s in "mv" for k in model.params}
    bad = dict(state, **{"m.0.W": np.zeros((1, 1))})
    with pytest.raises(ValueError, match="'m.0.W' has shape"):
        Adam(model).load_state_dict(bad)
    with pytest.raises(ValueError, match="no entry 'v.2.b'"):
        Adam(model).load_state_dict({k: v for k, v in state.items() if k != "v.2.b"})
    with pytest.raises(ValueError, match="unexpected"):
        Adam(model).load_state_dict(dict(state, junk=1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        Adam({"W": np.zeros(3)})
    with pytest.raises(ValueError, match="momentum"):
        SGD({"W": np.zeros(3)}, {"W": np.zeros(3)}, momentum=1.5)
    with pytest.raises(ValueError, match="no gradient"):
        SGD({"W": np.zeros(3)}, {}).step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda p, g: Adam(p, g, lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    lambda p, g: Adam(p, g, lr=0.01, weight_decay=0.1),
    lambda p, g: SGD(p, g, lr=0.05),
    lambda p, g: SGD(p, g, lr=0.05, momentum=0.9, weight_decay=0.01)])
def test_fast_path_equals_numpy_reference(dtype, make):
    """step() runs the Numba kernel; _update_reference is the NumPy formula. Same bits, every step,
    for arrays of several shapes and sizes."""
    rng = np.random.default_rng(0)
    shapes = {"W": (64, 3, 3, 3), "b": (64,), "big": (100_003,)}
    fast = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    ref = {k: v.copy() for k, v in fast.items()}
    grads = {k: np.zeros_like(v) for k, v in fast.items()}
    opt_fast, opt_ref = make(fast, grads), make(ref, grads)
    opt_ref._update = opt_ref._update_reference
    for _ in range(3):
        for g in grads.values():
            g[...] = rng.standard_normal(g.shape)
        opt_fast.step()
        opt_ref.step()
        for k in fast:
            assert fast[k].dtype == dtype
            assert np.array_equal(fast[k], ref[k]), k
        for s in opt_fast.state:
            for k in fast:
                assert np.array_equal(opt_fast.state[s][k], opt_ref.state[s][k]), (s, k)


def test_non_contiguous_gradient_uses_the_reference():
    p = np.ones((4, 6))
    g = np.arange(48.0).reshape(4, 12)[:, ::2]          # a strided view: the kernel needs flat arrays
    assert not optim_fast.supported(p, g)
    expected = p - 0.1 * g
    SGD({"p": p}, {"p": g}, lr=0.1).step()
    assert np.array_equal(p, expected)
