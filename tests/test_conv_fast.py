"""The fast Numba convolution computes exactly what the NumPy reference computes.

``minicnn.kernels.conv_fast`` is what Conv2D runs; ``minicnn.kernels.im2col_ref`` is the page a
student reads (and which ``test_conv.py`` proves against finite differences and PyTorch). Here
the two meet over a grid of shapes (strides, paddings, kernel sizes, non-square), in float32 and
float64: im2col (the fast one keeps sample n's block as (K, OH*OW), the reference's rows
transposed), col2im, forward and backward, with the batch in one chunk or one sample per chunk,
per-sample or folded GEMMs, on one thread or split between worker threads, and dx by both of
the fast path's routes (gather for stride 1, col2im otherwise).
"""
import numpy as np
import pytest

from minicnn.kernels import conv_fast as fast
from minicnn.kernels import im2col_ref as ref

# (N, C_in, H, W, C_out, (KH, KW), stride, padding)
SHAPES = [
    (2, 3, 6, 6, 4, (3, 3), 1, 1),
    (3, 2, 7, 5, 3, (3, 3), 2, 1),
    (2, 1, 11, 9, 4, (7, 7), 2, 3),
    (2, 3, 5, 6, 2, (1, 1), 2, 0),
    (2, 2, 6, 7, 3, (3, 2), (1, 2), (1, 0)),
    (2, 2, 4, 4, 3, (4, 4), 1, 0),
    (1, 2, 3, 3, 2, (3, 3), 3, 2),      # padding wider than a stride: whole rows of zeros
    (2, 3, 4, 5, 2, (1, 1), 1, 0),      # 1x1 stride 1: each col row is a whole image plane
    (2, 2, 2, 1, 3, (5, 5), 1, 2),      # "same" output size with padding wider than the image
]
TOL = {np.float32: 1e-5, np.float64: 1e-12}   # relative to the largest value


def data(shape, dtype, seed=0):
    N, C, H, W, C_out, (KH, KW), s, p = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((C_out, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    OH, OW = ref.conv_output_size(H, W, KH, KW, s, p)
    dout = rng.standard_normal((N, C_out, OH, OW)).astype(dtype)
    return x, Wt, b, dout


def assert_close(fast_value, ref_value, dtype):
    assert fast_value.dtype == dtype and fast_value.shape == ref_value.shape
    scale = max(1.0, float(np.max(np.abs(ref_value))))
    assert np.max(np.abs(fast_value - ref_value)) <= TOL[dtype] * scale


@pytest.fixture(params=["one-chunk", "row-bands", "two-row-bands", "threaded"])
def chunking(request, monkeypatch):
    """How the batch is cut: whole, one output row (or one folded sample) at a time, bands of
    about two output rows (the test sets the size), or between 3 worker threads."""
    if request.param == "threaded":                          # even for tiny batches
        monkeypatch.setattr(fast, "PARALLEL_MIN_ELEMENTS", 0)
        monkeypatch.setattr(fast, "THREADS", 3)
    if request.param == "row-bands":
        monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
        monkeypatch.setattr(fast, "FOLD_CHUNK_BYTES", 1)     # backward gathers col again, folded too
    return request.param


@pytest.fixture(params=["per-sample", "folded"])
def gemm_layout(request, monkeypatch):
    monkeypatch.setattr(fast, "FOLD_COLUMNS", 0 if request.param == "per-sample" else 10**9)


@pytest.fixture(params=["gather-dx", "col2im-dx"])
def dx_route(request, monkeypatch):
    monkeypatch.setattr(fast, "GATHER_DX_MIN_CHANNELS", 1 if request.param == "gather-dx" else 10**9)


def ref_col_as_fast(col, N):
    """The reference's col (N*OH*OW, K) as the fast path's (N, K, OH*OW): each sample's block transposed."""
    return col.reshape(N, -1, col.shape[1]).transpose(0, 2, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_im2col_col2im(shape, dtype):
    x, Wt, _, _ = data(shape, dtype)
    KH, KW, s, p = *shape[5], shape[6], shape[7]
    N = x.shape[0]
    col = fast.im2col(x, KH, KW, s, p)                         # N, C*KH*KW, OH*OW
    assert_close(col, ref_col_as_fast(ref.im2col(x, KH, KW, s, p), N), dtype)
    dcol = np.random.default_rng(1).standard_normal(col.shape).astype(dtype)
    dcol_ref = dcol.transpose(0, 2, 1).reshape(-1, col.shape[1])  # N*OH*OW, C*KH*KW
    assert_close(fast.col2im(dcol, x.shape, KH, KW, s, p),
                 ref.col2im(dcol_ref, x.shape, KH, KW, s, p), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_backward(shape, dtype, chunking, gemm_layout, dx_route, monkeypatch):
    x, Wt, b, dout = data(shape, dtype)
    s, p = shape[6], shape[7]
    if chunking == "two-row-bands":                           # col of two rows of OW outputs
        monkeypatch.setattr(fast, "CHUNK_BYTES", (Wt[0].size + 1) * dout.shape[3] * x.itemsize * 2)
    ws = fast.Workspace()
    want = ref.conv_backward(dout, (x, True), Wt, s, p)
    y, saved = fast.conv_forward(x, Wt, None, s, p, ws)      # no bias: no db either
    assert_close(y, ref.conv_forward(x, Wt, None, s, p)[0], dtype)
    dx, dW, db = fast.conv_backward(dout, saved, Wt, s, p, ws=ws)
    assert_close(dx, want[0], dtype)
    assert_close(dW, want[1], dtype)
    assert db is None
    y, saved = fast.conv_forward(x, Wt, b, s, p, ws)
    assert_close(y, ref.conv_forward(x, Wt, b, s, p)[0], dtype)
    dout_before = dout.copy()
    for _ in range(2):                                          # the saved state survives a backward
        got = fast.conv_backward(dout, saved, Wt, s, p, ws=ws)
        for g, w in zip(got, want):
            assert_close(g, w, dtype)
    assert np.array_equal(dout, dout_before)
    dx, dW, db = fast.conv_backward(dout, saved, Wt, s, p, need_dx=False, ws=ws)
    assert dx is None
    assert_close(dW, want[1], dtype)
    assert_close(db, want[2], dtype)


def test_workspace_is_reused():
    ws = fast.Workspace()
    a = ws.get("col", (4, 8), np.float32)
    b = ws.get("col", (2, 3), np.float64)                      # smaller: same memory
    assert np.shares_memory(a, b) and b.shape == (2, 3) and b.dtype == np.float64
    assert ws.nbytes() == 4 * 8 * 4


def test_layers_share_scratch_safely():
    """Two convolutions interleaved (forward A, forward B, backward B, backward A) through the one
    shared scratch Workspace: nothing a backward needs may live in it between the two calls."""
    (xa, Wa, ba, da), (xb, Wb, bb, db_) = data(SHAPES[0], np.float32), data(SHAPES[1], np.float32, seed=1)
    _, saved_a = fast.conv_forward(xa, Wa, ba, 1, 1)
    _, saved_b = fast.conv_forward(xb, Wb, bb, 2, 1)
    for got, want in zip(fast.conv_backward(db_, saved_b, Wb, 2, 1), ref.conv_backward(db_, (xb, True), Wb, 2, 1)):
        assert_close(got, want, np.float32)
    for got, want in zip(fast.conv_backward(da, saved_a, Wa, 1, 1), ref.conv_backward(da, (xa, True), Wa, 1, 1)):
        assert_close(got, want, np.float32)
