"""Per-layer speed: minicnn's fast path vs its NumPy reference vs PyTorch, and vs raw GEMM.

For every layer shape the three models use (batch 32), it times forward and forward+backward of

- ``fast``:  the minicnn layer (Numba kernels + BLAS) with the im2col algorithm;
- ``wino2``, ``wino4``: 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) and F(4x4, 3x3)
  (``minicnn.kernels.winograd_fast``), ``auto``: the algorithm Conv2D(algorithm="auto") picks,
  and ``err2``, ``err4``: Winograd's float32 forward error, max |y32 - y64| / max |y64| against a
  float64 direct convolution of the same (batch 4) input; ``auto/torch`` is timed apart, auto's
  and PyTorch's forward+backward called in turns, three calls each (``auto_fb_turns``,
  ``torch_fb_turns``; ``_common.paired_best``), so that a machine whose speed drifts (a shared
  VM) slows both alike;
- ``ref``:   the textbook NumPy reference (``minicnn.kernels.*_ref``), where it fits in memory;
- ``torch``: the same layer in PyTorch with the same thread count, if torch is installed;

and, for convolutions, the layer's own three GEMMs (forward, weight grad, input grad: the
im2col formulation's unavoidable arithmetic) on the same machine in the same run, so that
``fb/gemm`` = (conv forward+backward) / (its three GEMMs) says how much time goes outside BLAS.
GFLOP/s of forward+backward (3x the forward's multiply-adds) is compared with the GEMM
throughput measured at start. Times are the minimum over repetitions; on a shared machine they
are still noisy.

    python benchmarks/bench_layers.py                 # every shape
    python benchmarks/bench_layers.py --quick         # a few shapes, fewer reps
    python benchmarks/bench_layers.py --only stem --json out.json

The shape tables below are data: add a layer family by adding a table and a ``bench_*`` function.
"""
import argparse
import os
import sys

import minicnn  # noqa: F401  first, as a user's script would: its thread defaults must precede NumPy
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (CLOCK, best_time, describe, gemm_gflops, load_average, paired_best,  # noqa: E402
                     print_table, runtime_info, set_threads, use_cpu_clock, write_json)

BATCH = 32
# (name, C_in, C_out, kernel, stride, padding, H=W); each model at 64x64 and 150x150 input
CONV_SHAPES = [
    ("resnet.stem@64", 1, 64, 7, 2, 3, 64), ("resnet.stem@150", 1, 64, 7, 2, 3, 150),
    ("resnet.block@16", 64, 64, 3, 1, 1, 16), ("resnet.block@38", 64, 64, 3, 1, 1, 38),
    ("cnn5.1@64", 1, 64, 3, 1, 1, 64), ("cnn5.2@32", 64, 128, 3, 1, 1, 32),
    ("cnn5.3@16", 128, 256, 3, 1, 1, 16), ("cnn5.4@8", 256, 512, 3, 1, 1, 8),
    ("cnn5.5@4", 512, 512, 3, 1, 1, 4),
    ("cnn5.1@150", 1, 64, 3, 1, 1, 150), ("cnn5.2@75", 64, 128, 3, 1, 1, 75),
    ("cnn5.3@37", 128, 256, 3, 1, 1, 37), ("cnn5.4@18", 256, 512, 3, 1, 1, 18),
    ("cnn5.5@9", 512, 512, 3, 1, 1, 9),
    ("vgg.1a@64", 1, 64, 3, 1, 1, 64), ("vgg.1b@64", 64, 64, 3, 1, 1, 64),
    ("vgg.2a@32", 64, 128, 3, 1, 1, 32), ("vgg.2b@32", 128, 128, 3, 1, 1, 32),
    ("vgg.3a@16", 128, 256, 3, 1, 1, 16), ("vgg.3b@16", 256, 256, 3, 1, 1, 16),
    ("vgg.1b@150", 64, 64, 3, 1, 1, 150), ("vgg.2a@75", 64, 128, 3, 1, 1, 75),
    ("vgg.2b@75", 128, 128, 3, 1, 1, 75), ("vgg.3a@37", 128, 256, 3, 1, 1, 37),
    ("vgg.3b@37", 256, 256, 3, 1, 1, 37),
]
QUICK = ("resnet.stem@64", "resnet.block@16", "cnn5.3@16", "cnn5.5@4")
REF_MAX_BYTES = 1 << 30      # skip the reference when its im2col matrix alone would exceed 1 GB


def conv_gemm_time(C_in, C_out, K, OH, OW, dtype, reps, max_bytes=256 << 20):
    """Seconds for the conv's three GEMMs over the batch, in chunks of at most max_bytes of col."""
    Kc, P = C_in * K * K, OH * OW
    nb = max(1, min(BATCH, max_bytes // (Kc * P * np.dtype(dtype).itemsize)))
    rng = np.random.default_rng(0)
    col = rng.standard_normal((Kc, nb * P), dtype=np.float32).astype(dtype)   # C*K*K, nb*OH*OW
    Wm = rng.standard_normal((C_out, Kc)).astype(dtype)                       # C_out, C*K*K
    dy = rng.standard_normal((C_out, nb * P)).astype(dtype)                   # C_out, nb*OH*OW
    y, dW, dcol = np.empty_like(dy), np.empty_like(Wm), np.empty_like(col)

    def three():
        np.dot(Wm, col, out=y)              # forward
        np.dot(dy, col.T, out=dW)           # weight gradient
        np.dot(Wm.T, dy, out=dcol)          # input gradient (before col2im)
    full, rest = divmod(BATCH, nb)
    t = best_time(three, reps) * full
    if rest:                                 # the last, smaller chunk
        col, dy, y, dcol = col[:, :rest * P].copy(), dy[:, :rest * P].copy(), y[:, :rest * P].copy(), dcol[:, :rest * P].copy()
        t += best_time(three, reps)
    return t


def bench_conv(shape, args, torch):
    import minicnn
    from minicnn.kernels import im2col_ref as ref
    name, C_in, C_out, K, s, p, H = shape
    dtype = np.float32
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, C_in, H, H)).astype(dtype)
    layer = minicnn.Conv2D(C_in, C_out, K, stride=s, padding=p, dtype=dtype, rng=0, algorithm="im2col")
    OH, OW = layer.output_shape((C_in, H, H))[1:]
    dout = rng.standard_normal((BATCH, C_out, OH, OW)).astype(dtype)
    reps = args.reps
    row = {"layer": name, "shape": f"{C_in}->{C_out} k{K} s{s} p{p} @{H}"}

    def fast_fb():
        layer.forward(x, training=True)
        layer.backward(dout)
    row["fast_fwd"] = best_time(lambda: layer.forward(x), reps) * 1e3
    row["fast_fb"] = best_time(fast_fb, reps) * 1e3
    if C_in == 1:                            # a first layer need not compute dx
        layer.needs_input_grad = False
        row["fast_fb_nodx"] = best_time(fast_fb, reps) * 1e3
        layer.needs_input_grad = True
    row["gemm3"] = conv_gemm_time(C_in, C_out, K, OH, OW, dtype, reps) * 1e3
    row["fb/gemm"] = row["fast_fb"] / row["gemm3"]
    flops = 3 * 2 * C_in * K * K * C_out * OH * OW * BATCH
    row["GF/s"] = flops / row["fast_fb"] / 1e6
    row["%gemm"] = 100 * row["GF/s"] / args.gemm_gflops

    W, b = layer.params["W"], layer.params["b"]
    if not args.no_ref and BATCH * OH * OW * C_in * K * K * 4 <= REF_MAX_BYTES:
        ref_reps = max(1, reps // 2)
        row["ref_fwd"] = best_time(lambda: ref.conv_forward(x, W, b, s, p), ref_reps) * 1e3
        row["ref_fb"] = best_time(lambda: (ref.conv_forward(x, W, b, s, p),
                                           ref.conv_backward(dout, (x, True), W, s, p)), ref_reps) * 1e3
        row["x_ref"] = row["ref_fb"] / row["fast_fb"]

    torch_fb = None
    if torch is not None:
        torch_fb = time_torch(torch, row, torch.nn.Conv2d(C_in, C_out, K, stride=s, padding=p), x, dout, reps)
    if K == 3 and s == 1:
        auto_fb = bench_winograd(row, layer, x, dout, reps)
        if torch_fb is not None and auto_fb is not None:
            # the verdict, in turns: call by call, so that both see the machine at the same speed
            if row["auto"] == "im2col":
                layer.needs_input_grad = C_in > 1
                auto_fb = fast_fb
            t_auto, t_torch = paired_best([auto_fb, torch_fb], reps)
            layer.needs_input_grad = True
            row["auto_fb_turns"], row["torch_fb_turns"] = t_auto * 1e3, t_torch * 1e3
            row["auto/torch"] = t_auto / t_torch
    return row


def winograd_error(x, W, padding, m):
    """Winograd F(m x m, 3x3)'s float32 output error relative to the output's scale:
    max |y32 - y64| / max |y64|, y64 a float64 direct (im2col) convolution of the same input."""
    from minicnn.kernels import conv_fast, winograd_fast as wf
    exact = conv_fast.conv_forward(x.astype(np.float64), W.astype(np.float64), None, 1, padding)[0]
    y32 = wf.conv_forward(x, W, None, 1, padding, tile=m)[0]
    return float(np.max(np.abs(y32 - exact)) / np.max(np.abs(exact)))


def accuracy_table():
    """err2 / err4 at every 3x3 stride-1 model shape (batch 4, He-initialised weights, N(0,1) input)."""
    import minicnn
    from minicnn.kernels import conv_fast
    rows = []
    for name, C_in, C_out, K, s, p, H in CONV_SHAPES:
        if (K, s) == (3, 1):
            layer = minicnn.Conv2D(C_in, C_out, K, padding=p, rng=0)
            x = np.random.default_rng(0).standard_normal((4, C_in, H, H), dtype=np.float32)
            row = {"layer": name, "shape": f"{C_in}->{C_out} @{H}"}
            bench_winograd(row, layer, x, None, 0)
            W = layer.params["W"]                     # the float32 im2col path, for scale
            exact = conv_fast.conv_forward(x.astype(np.float64), W.astype(np.float64), None, 1, p)[0]
            row["err_im2col"] = float(np.max(np.abs(conv_fast.conv_forward(x, W, None, 1, p)[0] - exact))
                                      / np.max(np.abs(exact)))
            rows.append(row)
            print(f"  {name}: err2={row['err2']:.1e} err4={row['err4']:.1e}", flush=True)
    return rows


def bench_winograd(row, layer, x, dout, reps):
    """Add Winograd F(2x2) and F(4x4) times and errors, and what algorithm="auto" picks; returns
    the forward+backward function of auto's Winograd tile (None: auto picks im2col, or no reps)."""
    from minicnn.kernels import winograd_fast as wf
    from minicnn.kernels.winograd_rule import auto_tile
    W, b, p = layer.params["W"], layer.params["b"], layer.padding
    fbs = {}
    for m in (2, 4):
        last = [None]                  # as Conv2D does: each forward writes over the last one's arrays

        def fb(m=m, last=last):
            _, last[0] = wf.conv_forward(x, W, b, 1, p, tile=m, recycle=last[0])
            wf.conv_backward(dout, last[0], W, 1, p, need_dx=layer.in_channels > 1, tile=m)
        fbs[m] = fb
        if reps:
            row[f"wino{m}_fb"] = best_time(fb, reps) * 1e3
        row[f"err{m}"] = winograd_error(x[:4], W, p, m)
    if not reps:
        return None
    tile = auto_tile(layer.kernel_size, layer.stride, layer.in_channels, layer.out_channels, *dout.shape[2:])
    row["auto"] = f"F{tile}" if tile else "im2col"
    row["auto_fb"] = row[f"wino{tile}_fb"] if tile else row.get("fast_fb_nodx", row["fast_fb"])
    if "torch_fb" in row:
        row["w4/torch"] = row["wino4_fb"] / row["torch_fb"]
    return fbs.get(tile)


def time_torch(torch, row, tlayer, x, dout, reps):
    """Add torch_fwd, torch_fb (ms) and vs_torch (our fwd+bwd / torch's) to ``row``; returns
    the forward+backward function it timed."""
    tx = torch.from_numpy(x).requires_grad_(True)
    tdout = torch.from_numpy(dout)

    def torch_fb():
        tx.grad = None
        tlayer.zero_grad()
        tlayer(tx).backward(tdout)
    with torch.no_grad():
        row["torch_fwd"] = best_time(lambda: tlayer(tx), reps) * 1e3
    row["torch_fb"] = best_time(torch_fb, reps) * 1e3
    row["vs_torch"] = row["fast_fb"] / row["torch_fb"]
    return torch_fb


# (name, layer, C, H=W, pool kernel/stride/padding or None): the BN, ReLU and max-pool inputs
# of the three models, batch 32, at 64x64 and 150x150 input
FEATURE_SHAPES = [
    ("bn.resnet.stem@64", "bn", 64, 32, None), ("bn.resnet.stem@150", "bn", 64, 75, None),
    ("bn.cnn5.1@64", "bn", 64, 64, None), ("bn.cnn5.3@64", "bn", 256, 16, None),
    ("bn.cnn5.1@150", "bn", 64, 150, None), ("bn.cnn5.2@150", "bn", 128, 75, None),
    ("bn.cnn5.5@150", "bn", 512, 9, None),
    ("relu.resnet.stem@150", "relu", 64, 75, None), ("relu.cnn5.1@64", "relu", 64, 64, None),
    ("relu.cnn5.1@150", "relu", 64, 150, None),
    ("pool.resnet.stem@64", "maxpool", 64, 32, (3, 2, 1)),
    ("pool.resnet.stem@150", "maxpool", 64, 75, (3, 2, 1)),
    ("pool.cnn5.1@64", "maxpool", 64, 64, (2, 2, 0)), ("pool.cnn5.3@64", "maxpool", 256, 16, (2, 2, 0)),
    ("pool.cnn5.1@150", "maxpool", 64, 150, (2, 2, 0)), ("pool.cnn5.2@150", "maxpool", 128, 75, (2, 2, 0)),
    ("pool.cnn5.4@150", "maxpool", 512, 18, (2, 2, 0)),
]
QUICK += ("bn.resnet.stem@150", "relu.resnet.stem@150", "pool.resnet.stem@150", "pool.cnn5.1@64")


def bench_feature_layer(shape, args, torch):
    """BatchNorm2D (training mode), ReLU or MaxPool2D: minicnn vs NumPy reference vs PyTorch."""
    import minicnn
    from minicnn.kernels import norm_ref, pool_ref
    name, kind, C, H, pool = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, C, H, H), dtype=np.float32)
    if kind == "bn":
        layer, tlayer = minicnn.BatchNorm2D(C), (torch and torch.nn.BatchNorm2d(C))
    elif kind == "relu":
        layer, tlayer = minicnn.ReLU(), (torch and torch.nn.ReLU())
    else:
        layer, tlayer = minicnn.MaxPool2D(*pool), (torch and torch.nn.MaxPool2d(*pool))
    dout = rng.standard_normal((BATCH,) + layer.output_shape((C, H, H)), dtype=np.float32)
    reps = args.reps
    row = {"layer": name, "shape": f"{C}x{H}x{H}" + (" k{} s{} p{}".format(*pool) if pool else "")}

    def fast_fb():
        layer.forward(x, training=True)
        layer.backward(dout)
    row["fast_fwd"] = best_time(lambda: layer.forward(x, training=True), reps) * 1e3
    row["fast_fb"] = best_time(fast_fb, reps) * 1e3

    if not args.no_ref and kind != "relu":
        g, b = layer.params.get("gamma"), layer.params.get("beta")

        def ref_fb():
            if kind == "bn":
                _, mean, var = norm_ref.batchnorm_forward(x, g, b, 1e-5)
                norm_ref.batchnorm_backward(dout, x, mean, var, g, 1e-5)
            else:
                _, argmax = pool_ref.maxpool_forward(x, layer.kernel_size, layer.stride, layer.padding)
                pool_ref.maxpool_backward(dout, argmax, x.shape)
        row["ref_fb"] = best_time(ref_fb, max(1, reps // 2)) * 1e3
        row["x_ref"] = row["ref_fb"] / row["fast_fb"]

    if torch is not None:
        time_torch(torch, row, tlayer, x, dout, reps)
    return row


TABLES = {"conv": (CONV_SHAPES, bench_conv,
                   ["layer", "shape", "fast_fwd", "fast_fb", "fast_fb_nodx", "gemm3", "fb/gemm",
                    "GF/s", "%gemm", "ref_fb", "x_ref", "torch_fwd", "torch_fb", "vs_torch",
                    "wino2_fb", "wino4_fb", "w4/torch", "auto", "auto_fb_turns", "torch_fb_turns",
                    "auto/torch", "err2", "err4"]),
          "bn/relu/pool": (FEATURE_SHAPES, bench_feature_layer,
                           ["layer", "shape", "fast_fwd", "fast_fb", "ref_fb", "x_ref", "torch_fwd",
                            "torch_fb", "vs_torch"])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few shapes, 2 repetitions")
    ap.add_argument("--only", default="", help="run shapes whose name contains this text")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per timing (the minimum is kept)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for BLAS/Numba/torch")
    ap.add_argument("--no-ref", action="store_true", help="skip the (slow) NumPy reference")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument("--json", metavar="FILE", help="write all numbers to FILE")
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES),
                    help="which tables to run")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by process CPU time, not wall time (a shared machine; use --threads 1)")
    ap.add_argument("--accuracy", action="store_true",
                    help="only Winograd's float32 error at every 3x3 stride-1 shape (no timing)")
    args = ap.parse_args(argv)
    if args.accuracy:
        rows = accuracy_table()
        print_table(rows, ["layer", "shape", "err_im2col", "err2", "err4"])
        if args.json:
            write_json(args.json, {"winograd_float32_error": rows})
        return 0
    if args.quick:
        args.reps = min(args.reps, 2)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("(PyTorch not installed: no torch columns)")
    set_threads(args.threads)
    if args.cpu_time:
        use_cpu_clock()
    args.gemm_gflops = gemm_gflops()
    info = runtime_info()
    print(describe(info))
    print(f"GEMM throughput (4096x1024 @ 1024x256 float32): {args.gemm_gflops:.1f} GFLOP/s; "
          f"batch {BATCH}; times in ms ({CLOCK['name']} clock, min of {args.reps})")
    results = {"runtime": info, "gemm_gflops": args.gemm_gflops, "batch": BATCH, "clock": CLOCK["name"],
               "load_average_at_start": load_average()}
    print(f"load average (other processes) at start: {results['load_average_at_start']}")
    for family in args.tables:
        shapes, bench, columns = TABLES[family]
        chosen = [s for s in shapes if args.only in s[0] and (not args.quick or s[0] in QUICK)]
        rows = []
        for shape in chosen:
            rows.append(bench(shape, args, torch))
            print(f"  {shape[0]}: " + ", ".join(f"{k}={v:.2f}" for k, v in rows[-1].items()
                                                if isinstance(v, float)), flush=True)
        print(f"\n{family}")
        print_table(rows, columns)
        results[family] = rows
    results["runtime"] = runtime_info()       # now with the threading layer actually used
    results["load_average_at_end"] = load_average()
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
