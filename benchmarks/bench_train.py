"""Training and inference throughput of the three models: minicnn against PyTorch, same run.

For each model (mini_resnet, cnn5, mini_vgg) and input size (64x64, 150x150; grayscale,
4 classes, batch 32) it measures, each in its own subprocess (so peak memory is per run):

- training images/s  (forward + backward + Adam step), minicnn and PyTorch, same thread count;
- inference images/s (forward in inference mode);
- peak resident memory of the process (VmHWM), and its resident size after the imports;
- minicnn twice: with the environment as it is, and with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
  removed (OpenBLAS picks its native kernel);
- the BLAS library, kernel and thread counts (threadpoolctl) and Numba's threading layer;
- the first training step in a fresh process (Numba compile cache warm) and ``import minicnn``.

    python benchmarks/bench_train.py                      # everything (~20 min)
    python benchmarks/bench_train.py --quick              # a short run, to check it works
    python benchmarks/bench_train.py --models mini_resnet --sizes 64 --json out.json
    python benchmarks/bench_train.py --models mini_resnet --sizes 64 --rounds 5   # a noisy machine

``--json FILE`` writes every number; ``train_ratio`` / ``infer_ratio`` map "model@size" to the
minicnn/PyTorch throughput ratio (environment as is), ``*_ratio_native`` the same with the
native OpenBLAS kernel. Throughput is batch / median step time, after warm-up steps.
With ``--rounds N`` every variant runs N times, the variants taking turns, and each ratio is
the median of the N rounds' ratios (``*_ratio_rounds`` lists them): on a machine whose speed
drifts by tens of percent over minutes (a shared VM), a ratio of two runs minutes apart is
mostly that drift.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # for _common and torch_models; imported lazily, so that a worker's
#                           timed ``import minicnn`` / ``import torch`` also pays for NumPy
MODELS = ("mini_resnet", "cnn5", "mini_vgg")
SIZES = (64, 150)
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
NUM_CLASSES = 4


# ---- worker side: one measurement per process ------------------------------------------
def _memory_mb():
    """(current RSS, peak RSS) of this process in MB, from /proc (Linux) or getrusage."""
    cur = peak = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return cur, peak


def _minor_faults():
    """This process's minor page faults so far: a fresh page's first touch, which the kernel maps
    and zeroes. Many per step mean the step's arrays go back to the OS and are mapped again."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _minicnn_step_fns(model_name, size, batch, lr=1e-3, stub=False, algorithm="auto"):
    import numpy as np
    import minicnn
    if stub:  # checks the harness before the model zoo works: Flatten -> Dense only
        model = minicnn.Sequential([minicnn.Flatten(), minicnn.Dense(size * size, NUM_CLASSES, rng=0)])
    else:
        from minicnn import models
        model = models.build(model_name, (1, size, size), NUM_CLASSES, seed=0)
        minicnn.layers.set_conv_algorithm(model, algorithm)
    opt = minicnn.Adam(model, lr=lr)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    y = rng.integers(0, NUM_CLASSES, batch)

    def train_step():
        logits = model.forward(x, training=True)
        loss, dlogits = minicnn.softmax_cross_entropy(logits, y)
        with minicnn.free_after_backward():            # as fit trains: caches go during backward
            model.backward(dlogits)
        opt.step()
        return float(loss)

    def infer_step():
        return model.forward(x, training=False)

    return train_step, infer_step


def _torch_step_fns(model_name, size, batch, threads, lr=1e-3):
    import torch
    import torch_models
    torch.set_num_threads(threads)
    model = torch_models.build(model_name, (1, size, size), NUM_CLASSES, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, size, size, generator=gen)
    y = torch.randint(0, NUM_CLASSES, (batch,), generator=gen)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    def infer_step():
        model.eval()
        with torch.inference_mode():
            return model(x)

    return train_step, infer_step


def worker(spec):
    """Run one measurement described by ``spec`` (a dict) and return a dict of results."""
    t0 = time.perf_counter()
    if spec["framework"] == "minicnn":
        import minicnn  # noqa: F401
    else:
        import torch  # noqa: F401
    out = {"import_s": time.perf_counter() - t0}
    if spec["mode"] == "import":
        out["rss_mb"], out["peak_rss_mb"] = _memory_mb()
        return out
    from _common import gemm_gflops, runtime_info
    if spec["mode"] == "gemm":
        return {"gemm_gflops": gemm_gflops(), "runtime": runtime_info()}
    out["rss_after_import_mb"] = _memory_mb()[0]
    size, batch = spec["size"], spec["batch"]
    if spec["framework"] == "minicnn":
        train_step, infer_step = _minicnn_step_fns(spec["model"], size, batch, stub=spec["stub"],
                                                   algorithm=spec.get("algorithm", "auto"))
    else:
        train_step, infer_step = _torch_step_fns(spec["model"], size, batch, spec["threads"])
    step = infer_step if spec["mode"] == "infer" else train_step
    t0 = time.perf_counter()
    step()
    out["first_step_s"] = time.perf_counter() - t0
    if spec["mode"] != "first_step":
        for _ in range(spec["warmup"] - 1):
            step()
        # step times by wall clock, or by this process's CPU time (--cpu-time, a shared machine)
        clock = time.process_time if spec.get("clock") == "cpu" else time.perf_counter
        times, t_start, faults = [], time.perf_counter(), _minor_faults()
        while (len(times) < spec["min_steps"]
               or (time.perf_counter() - t_start < spec["min_time"] and len(times) < spec["max_steps"])):
            t = clock()
            step()
            times.append(clock() - t)
        times.sort()
        med = times[len(times) // 2]
        out.update(steps=len(times), step_s_median=med, step_s_min=times[0],
                   images_per_s=batch / med, minor_faults_per_step=(_minor_faults() - faults) / len(times))
    out["rss_mb"], out["peak_rss_mb"] = _memory_mb()
    out["runtime"] = runtime_info()
    return out


# ---- driver side ------------------------------------------------------------------------
def _env(threads, native):
    env = dict(os.environ)
    for k in THREAD_VARS:
        env[k] = str(threads)
    if native:
        for k in BLAS_VARS:
            env.pop(k, None)
    return env


def spawn(spec, native=False, timeout=3600):
    """Run ``worker(spec)`` in a fresh Python process; returns its dict (or {"error": ...})."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    try:
        p = subprocess.run(cmd, env=_env(spec["threads"], native), capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"exit {p.returncode}: {tail}"}


def machine_info(threads):
    from _common import cpu_name, load_average
    import numpy
    info = {"cpu": cpu_name(), "load_average_at_start": load_average(), "cores": os.cpu_count(),
            "threads": threads, "python": platform.python_version(),
            "numpy": numpy.__version__, "platform": platform.platform(),
            "blas_env": {k: os.environ.get(k) for k in BLAS_VARS}}
    for mod in ("torch", "numba", "minicnn"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 -- a missing or broken package is just not reported
            info[mod] = None
    return info


def _fmt(v, spec="{:.1f}"):
    return "n/a" if v is None else spec.format(v)


def _ratio(a, b):
    return None if not a or not b else round(a / b, 3)


def _ratios(report, mode, key, ips, args):
    """The ratios of ``key`` (model@size) into ``report``: minicnn's throughput over PyTorch's,
    per round (``*_ratio_rounds``), and their median (``*_ratio``, as before: one round's ratio
    when there is one round)."""
    def ratio(tag):
        per_round = [_ratio(a, b) for a, b in zip(ips.get(tag, []), ips.get("torch", []))]
        return per_round, _median([r for r in per_round if r is not None])

    fields = [("minicnn", f"{mode}_ratio")] + [("minicnn_native", f"{mode}_ratio_native")] * (not args.no_native)
    for tag, field in fields:
        report.setdefault(f"{field}_rounds", {})[key], report[field][key] = ratio(tag)
    for a in ["auto"] + [a for a in args.algorithms if a != "auto"]:
        report[f"{mode}_ratio_by_algorithm"].setdefault(a, {})[key] = ratio("minicnn" + ("" if a == "auto" else f"_{a}"))[1]


def _median(values):
    """The median of a list of numbers (the lower middle one of an even count), or None if empty."""
    values = sorted(values)
    return values[(len(values) - 1) // 2] if values else None


def run(args):
    threads = args.threads
    common = dict(batch=args.batch_size, threads=threads, stub=args.stub,
                  clock="cpu" if args.cpu_time else "wall")
    if args.steps:
        common.update(warmup=2, min_steps=args.steps, max_steps=args.steps, min_time=0.0)
    elif args.quick:
        common.update(warmup=1, min_steps=2, max_steps=3, min_time=0.0)
    else:
        common.update(warmup=3, min_steps=5, max_steps=50, min_time=args.min_time)
    # (framework, native BLAS kernel, conv algorithm): the default algorithm ("auto") is what
    # train_ratio reports, as before; the others are extra rows
    variants = [("minicnn", False, "auto")] + [("minicnn", True, "auto")] * (not args.no_native)
    variants += [("minicnn", False, a) for a in args.algorithms if a != "auto"] + [("torch", False, None)]
    report = {"machine": machine_info(threads), "batch_size": args.batch_size, "stub": args.stub,
              "clock": common["clock"],
              "results": [], "gemm": {}, "runtime": {},
              "train_ratio": {}, "infer_ratio": {}, "train_ratio_native": {}, "infer_ratio_native": {},
              "train_ratio_by_algorithm": {}, "infer_ratio_by_algorithm": {}}
    if args.stub:
        print("STUB RUN: the minicnn numbers are for a Flatten-Dense stand-in, not the models")
    same = all(k not in os.environ for k in BLAS_VARS)
    if same and not args.no_native:
        print(f"note: {' and '.join(BLAS_VARS)} are not set, so the 'native' runs repeat the default ones")
    print(f"{report['machine']['cpu']}, {report['machine']['cores']} cores, {threads} threads, "
          f"batch {args.batch_size}; BLAS env {report['machine']['blas_env']}", flush=True)
    for model in args.models:
        for size in args.sizes:
            key = f"{model}@{size}"
            for mode in args.modes:
                ips = {}                       # tag -> images/s, one per round
                # the variants take turns, round after round: a machine whose speed drifts over
                # minutes (a shared VM) moves them alike, and each ratio is of runs side by side
                for rnd in range(args.rounds):
                    for fw, native, algorithm in variants:
                        spec = dict(common, framework=fw, model=model, size=size, mode=mode)
                        if algorithm:
                            spec["algorithm"] = algorithm
                        r = spawn(spec, native=native)
                        tag = fw + ("_native" if native else "") + (f"_{algorithm}" if algorithm not in (None, "auto") else "")
                        ips.setdefault(tag, []).append(r.get("images_per_s"))
                        report["results"].append(dict(spec, variant="native" if native else "as_is", round=rnd, **r))
                        msg = r.get("error") or (f"{r['images_per_s']:.1f} img/s, peak {r['peak_rss_mb']:.0f} MB"
                                                 f" (after import {r['rss_after_import_mb']:.0f} MB), "
                                                 f"{r['minor_faults_per_step']:.0f} page faults/step")
                        print(f"  {key:16s} {mode:5s} {tag:15s} {msg}"
                              + (f"  [round {rnd + 1}/{args.rounds}]" if args.rounds > 1 else ""), flush=True)
                _ratios(report, mode, key, ips, args)
    # first training step in a fresh process, after one run has warmed Numba's cache
    fs = dict(common, framework="minicnn", model="mini_resnet", size=64, mode="first_step")
    runs = [spawn(fs) for _ in range(2)]
    report["first_step_s"] = {"cold_or_warm": runs[0].get("first_step_s"), "warm": runs[1].get("first_step_s"),
                              "error": runs[1].get("error")}
    imp = [spawn(dict(common, framework="minicnn", mode="import")) for _ in range(3)]
    times = sorted(r["import_s"] for r in imp if "import_s" in r)
    report["import_minicnn_s"] = times[len(times) // 2] if times else None
    for native in (False, True)[:1 if args.no_native else 2]:
        name = "native" if native else "as_is"
        r = report["gemm"][name] = spawn(dict(common, framework="minicnn", mode="gemm"), native=native)
        report["runtime"][name] = r.get("runtime")
        report["runtime"][name + "_error"] = r.get("error")
    print_table(report)
    if args.json:
        from _common import write_json
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return report


def print_table(rep):
    from _common import describe
    res = {}                                  # every round's result of each measurement
    for r in rep["results"]:
        if "model" in r:
            res.setdefault((r["model"], r["size"], r["mode"], r["framework"], r["variant"], r.get("algorithm")),
                           []).append(r)

    def get(model, size, mode, fw, variant, field, algorithm="auto"):
        """The median over the rounds (peak memory: the largest)."""
        values = [r.get(field) for r in res.get((model, size, mode, fw, variant, algorithm if fw == "minicnn" else None), [])]
        values = [v for v in values if v is not None]
        return (max(values) if values else None) if field == "peak_rss_mb" else _median(values)

    keys = sorted({(r["model"], r["size"]) for r in rep["results"] if "model" in r},
                  key=lambda k: (MODELS.index(k[0]), k[1]))
    print("\n| model @ size | train img/s minicnn (native BLAS) | PyTorch | ratio (native) "
          "| infer img/s minicnn | PyTorch | ratio | peak train MB minicnn | PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, size in keys:
        k = f"{model}@{size}"
        print(f"| {k} | {_fmt(get(model, size, 'train', 'minicnn', 'as_is', 'images_per_s'))} "
              f"({_fmt(get(model, size, 'train', 'minicnn', 'native', 'images_per_s'))}) "
              f"| {_fmt(get(model, size, 'train', 'torch', 'as_is', 'images_per_s'))} "
              f"| {_fmt(rep['train_ratio'].get(k), '{:.2f}')} ({_fmt(rep['train_ratio_native'].get(k), '{:.2f}')}) "
              f"| {_fmt(get(model, size, 'infer', 'minicnn', 'as_is', 'images_per_s'))} "
              f"| {_fmt(get(model, size, 'infer', 'torch', 'as_is', 'images_per_s'))} "
              f"| {_fmt(rep['infer_ratio'].get(k), '{:.2f}')} "
              f"| {_fmt(get(model, size, 'train', 'minicnn', 'as_is', 'peak_rss_mb'), '{:.0f}')} "
              f"| {_fmt(get(model, size, 'train', 'torch', 'as_is', 'peak_rss_mb'), '{:.0f}')} |")
    algorithms = list(rep.get("train_ratio_by_algorithm", {}))
    if len(algorithms) > 1:
        print("\n| model @ size | " + " | ".join(f"train img/s {a} | ratio | peak MB" for a in algorithms) + " |")
        print("|---|" + "---|---|---|" * len(algorithms))
        for model, size in keys:
            k = f"{model}@{size}"
            print(f"| {k} | " + " | ".join(
                f"{_fmt(get(model, size, 'train', 'minicnn', 'as_is', 'images_per_s', a))} "
                f"| {_fmt(rep['train_ratio_by_algorithm'][a].get(k), '{:.2f}')} "
                f"| {_fmt(get(model, size, 'train', 'minicnn', 'as_is', 'peak_rss_mb', a), '{:.0f}')}"
                for a in algorithms) + " |")
    fs = rep["first_step_s"]
    print(f"\nfirst training step (mini_resnet@64, fresh process, Numba cache warm): "
          f"{_fmt(fs['warm'], '{:.2f}')} s (first process: {_fmt(fs['cold_or_warm'], '{:.2f}')} s)"
          + (f" [{fs['error']}]" if fs.get("error") else ""))
    print(f"import minicnn: {_fmt(rep['import_minicnn_s'], '{:.2f}')} s")
    for name, info in rep["runtime"].items():
        if info and not name.endswith("_error"):
            g = rep["gemm"][name].get("gemm_gflops")
            print(f"{name:6s} GEMM {_fmt(g)} GFLOP/s (float32 4096x1024 @ 1024x256) | {describe(info)}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--min-time", type=float, default=10.0, help="seconds of timed steps per measurement")
    p.add_argument("--quick", action="store_true", help="1 warm-up + 2-3 timed steps per measurement")
    p.add_argument("--steps", type=int, help="exactly this many timed steps (after 2 warm-up steps)")
    p.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    p.add_argument("--no-native", action="store_true", help="skip the native-OpenBLAS-kernel runs")
    p.add_argument("--cpu-time", action="store_true",
                   help="step times by process CPU time (a machine shared with other work; use --threads 1)")
    p.add_argument("--algorithms", nargs="+", default=["auto", "im2col"], choices=["auto", "im2col", "winograd"],
                   help="conv algorithms to time minicnn with (auto is always run: train_ratio)")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every variant this many times, taking turns (a machine whose speed "
                        "drifts); the ratios are the median of the rounds' ratios")
    p.add_argument("--stub", action="store_true",
                   help="minicnn side uses a Flatten-Dense stand-in (to test the harness only)")
    p.add_argument("--json", metavar="FILE", help="write all numbers to FILE")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
