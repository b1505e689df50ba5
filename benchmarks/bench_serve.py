"""``minicnn serve`` from the client's side: prediction + Grad-CAM latency, and the page's first load.

It starts ``python -m minicnn serve --port 0`` in its own process (the packaged Mini-ResNet, warm
after the server's own warm-up and a few requests here), then measures:

- latency of ``POST /api/predict`` with a 512x512 JPEG MRI, from the client (new connection per
  request, as a browser's fetch; answer read and parsed): median, 90th percentile, min, max;
  target < 300 ms;
- the same 20 requests sent at once (20 threads) against one after another;
- the page's first load in Chromium (Playwright, empty profile each time, headless), from
  navigation start until the model card and the sample buttons are shown; target < 1 s;
- a baseline in this same run, for machine load: the library's own work for one request
  (``minicnn.training.predict`` + ``CAMPass``) called directly in this process, single-threaded.
  The ratio client latency / baseline is what the server adds, and is comparable across loads.

    PYTHONPATH=. python benchmarks/bench_serve.py [--requests 40] [--page-loads 5] [--json FILE]

The JPEG is ``--image`` (default: a glioma scan of the shared Kaggle Training copy, 224x224
there), upscaled to 512x512 and re-encoded unless it already is a 512x512 JPEG; without that
file, a bundled 64x64 scan upscaled the same way. Results of the run docs/serve.md quotes:
benchmarks/results/bench_serve.json.
"""
import argparse
import http.client
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_SCAN = "/work/shared/data/brain-tumor-mri/Training/glioma/Tr-glTr_0000.jpg"


def scan_jpeg(path):
    """Bytes of a 512x512 JPEG MRI, and where it came from."""
    from PIL import Image
    if path and os.path.isfile(path):
        with Image.open(path) as im:
            if im.size == (512, 512) and im.format == "JPEG":
                return open(path, "rb").read(), path
            im = im.convert("L").resize((512, 512), Image.BICUBIC)
    else:
        from minicnn.data import load_bundled
        ds = load_bundled()
        im, path = Image.fromarray(ds.images[0, 0]).resize((512, 512), Image.BICUBIC), "bundled[0]"
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return buf.getvalue(), f"{path}, re-encoded 512x512"


def start_server():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "minicnn", "serve", "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.perf_counter()
    line = proc.stdout.readline()
    m = re.match(r"minicnn serve: (http://127\.0\.0\.1:(\d+)/)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"the server did not start: {line}{proc.stderr.read()}")
    return proc, m.group(1), int(m.group(2)), time.perf_counter() - t0


def post(port, body):
    """One client request, new connection: -> (seconds, parsed answer)."""
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/jpeg"})
    r = conn.getresponse()
    answer = json.loads(r.read())
    conn.close()
    if r.status != 200:
        raise RuntimeError(answer)
    return time.perf_counter() - t, answer


def stats_ms(seconds):
    ms = sorted(1000 * s for s in seconds)
    return {"median": statistics.median(ms), "p90": ms[min(len(ms) - 1, int(0.9 * len(ms)))],
            "min": ms[0], "max": ms[-1], "n": len(ms)}


def library_baseline(body, reps):
    """Seconds of predict + Grad-CAM called directly (no HTTP, no PNG), single-threaded."""
    import numba
    from threadpoolctl import threadpool_limits

    from minicnn.serve import ModelService
    from minicnn.training import predict
    from minicnn.viz.gradcam import CAMPass
    service = ModelService(samples=False)
    x, _ = service.decode(body)
    times = []
    numba.set_num_threads(1)
    with threadpool_limits(1, user_api="blas"):
        for i in range(reps + 3):
            t = time.perf_counter()
            top = int(predict(service.model, x[None])[0].argmax())
            CAMPass(service.model, service.transform(x[None])).cam(top)
            if i >= 3:
                times.append(time.perf_counter() - t)
    return times


def page_loads(url, n):
    """Seconds from navigation start to the page showing its model card and samples, n times."""
    from playwright.sync_api import sync_playwright  # optional: pip install minicnn[browser]
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
        for _ in range(n + 1):                          # the first one warms Chromium itself
            ctx = browser.new_context(bypass_csp=True)      # a fresh, empty context each time
            page = ctx.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("body[data-ready='1'] .sample")
            out.append(time.perf_counter() - t)
            ctx.close()
        browser.close()
    return out[1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--page-loads", type=int, default=5)
    ap.add_argument("--image", default=SHARED_SCAN, help="a 512x512 JPEG MRI (default: shared copy)")
    ap.add_argument("--json", metavar="FILE", help="write every number here")
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    load_before = os.getloadavg()
    body, source = scan_jpeg(args.image)
    proc, url, port, startup = start_server()
    res = {"image": source, "image_bytes": len(body), "startup_s": startup,
           "load_average_before": load_before}
    try:
        for _ in range(3):
            post(port, body)                                          # warm
        runs = [post(port, body) for _ in range(args.requests)]
        res["predict_client_ms"] = stats_ms([t for t, _ in runs])
        res["predict_server_ms"] = stats_ms([a["timing_ms"] / 1000 for _, a in runs])
        res["class"] = runs[0][1]["class"]
        t = time.perf_counter()
        for _ in range(20):
            post(port, body)
        res["sequential_20_s"] = time.perf_counter() - t
        t = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            list(pool.map(lambda _: post(port, body), range(20)))
        res["concurrent_20_s"] = time.perf_counter() - t
        res["library_baseline_ms"] = stats_ms(library_baseline(body, args.requests))
        res["client_over_baseline"] = (res["predict_client_ms"]["median"]
                                       / res["library_baseline_ms"]["median"])
        try:
            res["page_first_load_ms"] = stats_ms(page_loads(url, args.page_loads))
        except ImportError as e:
            res["page_first_load_ms"] = f"skipped: {e}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    res["load_average_after"] = os.getloadavg()
    show(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


def show(res):
    def row(name, s, target=""):
        print(f"{name:<44} {s['median']:8.1f} {s['p90']:8.1f} {s['min']:8.1f} {s['max']:8.1f}  {target}")
    print(f"image: {res['image']} ({res['image_bytes']:,} bytes); predicted {res['class']}")
    print(f"server start (process start to address printed, warm-up included): {res['startup_s']:.1f} s")
    print(f"{'ms':<44} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}")
    row("POST /api/predict, from the client", res["predict_client_ms"], "target < 300")
    row("  of which the server's own timing_ms", res["predict_server_ms"])
    row("library only: predict + CAMPass, 1 thread", res["library_baseline_ms"])
    if isinstance(res["page_first_load_ms"], dict):
        row("page first load (to model card + samples)", res["page_first_load_ms"], "target < 1000")
    else:
        print("page first load:", res["page_first_load_ms"])
    print(f"client latency / library baseline: {res['client_over_baseline']:.2f}x")
    print(f"20 requests: one after another {res['sequential_20_s']:.2f} s, all at once "
          f"{res['concurrent_20_s']:.2f} s")
    print("load average before / after: " + " / ".join(
        ", ".join(f"{v:.1f}" for v in res[k]) for k in ("load_average_before", "load_average_after")))


if __name__ == "__main__":
    main()
