"""``minicnn serve``'s JSON API, against a real server on port 0 in this process.

What this proves:
- a real MRI from the bundled data (as PNG, and as a 512x512 JPEG) gets the same class and
  probabilities over HTTP as from ``minicnn predict --json``, and the scan and Grad-CAM come back
  as PNGs of the model's input size (the Grad-CAM is not blank);
- every bad input gets its status code and a JSON message saying what was wrong, and the next
  good request still works: not an image, truncated, corrupt, zero bytes, too many bytes (413,
  decided from Content-Length), too many pixels (413, a decompression bomb), no Content-Length
  (411), wrong method (405 with Allow), wrong path (404);
- an upload is decoded from memory: predicting opens no file at all;
- 20 concurrent requests give exactly the answers of the same 20 sent one after another;
- a missing or non-minicnn checkpoint stops ``minicnn serve`` with one line before it listens,
  and ``python -m minicnn serve --port 0`` prints an address that answers.
"""
import base64
import builtins
import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn.cli import main
from minicnn.serve import MAX_UPLOAD_BYTES, ModelService, default_checkpoint, make_server


@pytest.fixture(scope="module")
def server():
    srv = make_server(ModelService(), port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method, path, body=None, headers=None):
    """-> (status, headers dict, parsed JSON or raw bytes)."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        parsed = json.loads(data) if r.getheader("Content-Type") == "application/json" else data
        return r.status, dict(r.getheaders()), parsed
    finally:
        conn.close()


def predict(server, data):
    status, _, answer = request(server, "POST", "/api/predict", data)
    assert status == 200, answer
    return answer


def png_pixels(b64):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


@pytest.fixture(scope="module")
def samples(server):
    status, _, body = request(server, "GET", "/api/samples")
    assert status == 200
    return body["samples"]


def test_page_and_static_files(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script src="app.js"' in body and b"http" not in body.split(b"<body>")[1]   # no CDN
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path, kind in [("/app.js", "text/javascript"), ("/app.css", "text/css")]:
        status, headers, body = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and len(body) > 500


def test_model_card(server):
    status, _, card = request(server, "GET", "/api/model")
    model = minicnn.load(default_checkpoint())
    assert status == 200
    assert card["name"] == "mini_resnet" and card["params"] == model.num_params() == 151_556
    assert card["classes"] == ["glioma", "meningioma", "notumor", "pituitary"]
    assert card["val_accuracy"] == model.metadata["val_accuracy"] and card["epoch"] == 66
    assert card["split"]["mirrors_kept_together"] and card["split"]["n_val"] == 1148
    assert "not a medical device" in card["disclaimer"] and "duplicates" in card["leakage_note"]
    assert card["limits"]["max_upload_bytes"] == MAX_UPLOAD_BYTES


def test_samples_one_per_class(server, samples):
    assert [s["label"] for s in samples] == ["glioma", "meningioma", "notumor", "pituitary"]
    for s in samples:
        assert s["split"] == "validation" and s["name"].startswith(s["label"] + "/")
        assert png_pixels(s["png"]).shape == (64, 64)


@pytest.mark.parametrize("kind", ["png", "jpeg512"])
def test_predict_matches_minicnn_predict(server, samples, tmp_path, capsys, kind):
    scan = Image.open(io.BytesIO(base64.b64decode(samples[0]["png"])))    # a bundled glioma
    path = tmp_path / f"scan.{kind[:4]}"
    if kind == "jpeg512":
        scan = scan.resize((512, 512), Image.BICUBIC)
    scan.save(path)
    answer = predict(server, path.read_bytes())
    assert main(["predict", "--checkpoint", default_checkpoint(), "--json", str(path)]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert answer["class"] == cli["class"] == "glioma"
    assert list(answer["probabilities"]) == list(cli["probabilities"])
    np.testing.assert_allclose(list(answer["probabilities"].values()),
                               list(cli["probabilities"].values()), rtol=1e-5, atol=1e-7)
    seen = minicnn.data.load_image(path, image_size=64, color="grayscale")[0]   # H,W
    np.testing.assert_array_equal(png_pixels(answer["input_png"]), seen)
    cam = png_pixels(answer["gradcam_png"])
    assert cam.shape == (64, 64, 3) and cam.std() > 10                        # not blank
    assert answer["image"]["width"] == (512 if kind == "jpeg512" else 64)
    assert answer["timing_ms"] > 0 and set(answer["timing_detail_ms"]) >= {"predict", "gradcam"}


def jpeg_bytes(size=256):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size), np.uint8)).save(
        buf, format="JPEG")
    return buf.getvalue()


def bomb_png():
    """A small PNG of 7,100 x 7,100 pixels: 50 M, over MAX_PIXELS (33.5 M), under Pillow's own
    89 M warning, so the server's check is what refuses it."""
    buf = io.BytesIO()
    Image.new("1", (7_100, 7_100)).save(buf, format="PNG")
    return buf.getvalue()


BAD = {  # name: (method, path, body, headers, status, words the message must contain)
    "not an image": ("POST", "/api/predict", b"hello, I am a text file" * 10, {}, 400,
                     "not an image"),
    "zero bytes": ("POST", "/api/predict", b"", {}, 400, "empty upload"),
    "truncated": ("POST", "/api/predict", jpeg_bytes()[:2000], {}, 400,
                  "the uploaded JPEG image (256x256): cannot decode"),
    "corrupt": ("POST", "/api/predict", jpeg_bytes()[:600] + bytes(range(256)) * 20, {}, 400,
                "the uploaded JPEG image (256x256): cannot decode"),
    "too many bytes": ("POST", "/api/predict", b"\0" * (MAX_UPLOAD_BYTES + 1), {}, 413,
                       "upload too large"),
    "too many pixels": ("POST", "/api/predict", bomb_png(), {}, 413, "too large in pixels"),
    "GET on predict": ("GET", "/api/predict", None, {}, 405, "use POST"),
    "POST on the page": ("POST", "/", b"x", {}, 405, "use GET"),
    "DELETE the model": ("DELETE", "/api/model", None, {}, 405, "not allowed"),
    "unknown path": ("GET", "/etc/passwd", None, {}, 404, "no such page"),
    "unknown POST path": ("POST", "/api/train", b"x", {}, 404, "no such page"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_gets_a_clear_answer_then_serving_goes_on(server, samples, name):
    method, path, body, headers, code, words = BAD[name]
    status, got_headers, answer = request(server, method, path, body, headers)
    assert status == code and answer["status"] == code and words in answer["error"], answer
    if code == 405:
        assert got_headers["Allow"] in ("POST", "GET, HEAD")
    good = predict(server, base64.b64decode(samples[2]["png"]))
    assert good["class"] == "notumor"


def test_413_is_decided_from_content_length_and_411_without_it(server, samples):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.putrequest("POST", "/api/predict")
    conn.putheader("Content-Length", str(10 ** 12))            # a terabyte announced, none sent
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and "limit is" in json.loads(r.read())["error"]
    conn.close()
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.putrequest("POST", "/api/predict")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 411 and "Content-Length" in json.loads(r.read())["error"]
    conn.close()
    assert predict(server, base64.b64decode(samples[3]["png"]))["class"] == "pituitary"


def test_an_upload_is_never_written_to_disk(server, samples, monkeypatch):
    data = base64.b64decode(samples[1]["png"])
    server.service.predict(data)                             # warm: kernels loaded from cache
    opened = []

    def spy(real):
        return lambda f, *a, **k: opened.append(f) or real(f, *a, **k)
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(os, "open", spy(os.open))
    assert server.service.predict(data)["class"] in server.service.classes
    assert opened == []


def test_20_concurrent_requests_equal_20_sequential(server, samples):
    bodies = [base64.b64decode(samples[i % len(samples)]["png"]) for i in range(20)]
    keys = ("class", "probabilities", "gradcam_png", "input_png")
    sequential = [{k: predict(server, b)[k] for k in keys} for b in bodies]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda b: predict(server, b), bodies))
    concurrent = [{k: a[k] for k in keys} for a in answers]
    assert concurrent == sequential
    assert len({json.dumps(a["probabilities"]) for a in sequential}) == len(samples)


def test_bad_checkpoint_is_one_line_before_listening(tmp_path, capsys):
    text = tmp_path / "notes.npz"
    text.write_text("not a model")
    bare = tmp_path / "bare.npz"
    minicnn.Sequential([minicnn.Flatten(), minicnn.Dense(4, 2)], input_shape=(1, 2, 2)).save(bare)
    for path, words in [(tmp_path / "missing.npz", "does not exist"),
                        (text, "is not a minicnn model file"),
                        (bare, "not a checkpoint written by minicnn train")]:
        assert main(["serve", "--checkpoint", str(path), "--port", "0"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err, err


def test_cli_prints_an_address_that_answers():
    proc = subprocess.Popen([sys.executable, "-m", "minicnn", "serve", "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.match(r"minicnn serve: http://127\.0\.0\.1:(\d+)/ ", line)
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=60)
        conn.request("GET", "/api/model")
        assert json.loads(conn.getresponse().read())["name"] == "mini_resnet"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_leakage_note_follows_the_recorded_split():
    from minicnn.serve.card import SPLIT_CLEAN, SPLIT_NO_MIRRORS, SPLIT_UNKNOWN, split_note
    assert split_note({}) == SPLIT_UNKNOWN
    assert split_note({"duplicates_kept_together": True}) == SPLIT_NO_MIRRORS    # made before
    assert split_note({"duplicates_kept_together": True,
                       "mirrors_kept_together": True}) == SPLIT_CLEAN
    assert "mirror" in SPLIT_NO_MIRRORS and "inflated" in SPLIT_NO_MIRRORS
