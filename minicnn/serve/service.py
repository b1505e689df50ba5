"""What ``minicnn serve`` computes: one model, its card, sample scans, and predict + Grad-CAM.

    service = ModelService()                       # the Mini-ResNet that ships in the package
    service = ModelService("runs/cnn5/best.npz")   # or any checkpoint written by minicnn train
    result = service.predict(open("scan.jpg", "rb").read())
    result["class"], result["probabilities"]       # "glioma", {"glioma": 0.97, ...}

An upload goes through the library's own path, nothing re-implemented:
1. ``decode``: Pillow identifies the bytes (from memory, never from disk) and the pixel count is
   checked against ``MAX_PIXELS`` *before* any pixel is decoded (a decompression bomb is a small
   file that claims a huge image); then ``minicnn.data.load_image`` decodes and resizes exactly
   as at training time.
2. ``minicnn.training.predict``: the checkpoint's stored standardisation, then the forward pass,
   giving the same probabilities as ``minicnn predict``.
3. ``minicnn.viz.gradcam.CAMPass``: Grad-CAM of the predicted class, by minicnn's own backward.

minicnn layers keep a forward cache, and Numba's workqueue threading layer aborts the process if
two threads enter parallel kernels at once, so steps 2 and 3 run under one lock: concurrent
requests are answered one model pass at a time, with the same numbers as sequential ones.
Decoding and PNG encoding (Pillow, per-request objects) run outside the lock.

The model pass runs on one thread (Numba and BLAS): one image is too little work to split, and
on a busy 2-core machine a parallel region that waits for its second thread took up to 250 ms
instead of 5 ms (measured while writing this, load average 3.5).
"""
import contextlib
import io
import os
import threading
import time
from importlib import resources

import numba
import numpy as np
from PIL import Image, UnidentifiedImageError

from minicnn.data import decode, load_image
from minicnn.serve import card
from minicnn.serve.card import png_base64
from minicnn.training import load_checkpoint, predict
from minicnn.training.checkpoint import checkpoint_error
from minicnn.training.inference import check_metadata
from minicnn.training.inference import make_transform
from minicnn.viz.gradcam import CAMPass

MAX_UPLOAD_BYTES = 20 * 1024 * 1024        # a request body above this is refused with 413
MAX_PIXELS = decode.MAX_PIXELS             # width * height above this is refused with 413
FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "GIF", "WEBP")   # what Pillow may try to open
DEFAULT_CHECKPOINT = "mini_resnet_64.npz"  # in minicnn/datasets: docs/checkpoints/mini_resnet/best


class RequestError(ValueError):
    """An upload the server refuses: ``status`` is the HTTP code, the message says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def default_checkpoint():
    """Path of the Mini-ResNet that ships inside the package."""
    return os.fspath(resources.files("minicnn.datasets").joinpath(DEFAULT_CHECKPOINT))


def load_model(path):
    """A checkpoint written by ``fit`` / ``minicnn train``, or a one-line ValueError saying why."""
    path = os.fspath(path)
    error = checkpoint_error(path)
    if error:
        raise ValueError(error)
    try:
        model = load_checkpoint(path)
    except (ValueError, OSError) as e:  # what load_checkpoint raises for a bad file, as the CLI
        raise ValueError(f"{path} is not a minicnn model file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    meta = getattr(model, "metadata", None) or {}
    missing = [k for k in ("classes", "image_size", "color") if k not in meta]
    if missing:
        raise ValueError(f"{path} is a minicnn model but not a checkpoint written by minicnn train "
                         f"/ fit: its metadata lacks {', '.join(missing)}")
    try:
        check_metadata(meta, files=True)   # predict's own checks, at start-up, not per request
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return model


def _jet_lut():
    """(256, 3) uint8: matplotlib's "jet", the colour map of ``plot_gradcam``."""
    from matplotlib import colormaps  # heavy; only the server needs it, once
    return np.rint(colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def _blas_controller():
    """threadpoolctl's controller (a core dependency); made once, it scans the loaded libraries."""
    from threadpoolctl import ThreadpoolController  # as minicnn.kernels.conv_fast: made on demand
    return ThreadpoolController()


class ModelService:
    """The model behind the server. Thread-safe: ``predict`` may be called from many threads.

    checkpoint: a path, or None for the packaged Mini-ResNet. Raises ValueError (one line) when
    the file is missing or is not a minicnn checkpoint.
    """

    def __init__(self, checkpoint=None, samples=True):
        self.checkpoint = os.fspath(checkpoint) if checkpoint is not None else default_checkpoint()
        self.model = load_model(self.checkpoint)
        meta = self.model.metadata
        self.classes = [str(c) for c in meta["classes"]]
        self.image_size, self.color = int(meta["image_size"]), meta["color"]
        self.crop = meta.get("crop", False)
        self.transform = make_transform(meta.get("preprocessing"), self.model.dtype)
        self._lock = threading.Lock()
        self._blas = _blas_controller()
        self._lut = _jet_lut()
        self.card = card.model_card(self.model, self.checkpoint,
                                    {"max_upload_bytes": MAX_UPLOAD_BYTES, "max_pixels": MAX_PIXELS,
                                     "formats": list(FORMATS)})
        self.samples = card.sample_scans(meta, self.classes) if samples else []

    @contextlib.contextmanager
    def _one_thread(self):
        """BLAS and this thread's Numba parallel regions limited to one thread, then restored."""
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            with self._blas.limit(limits=1, user_api="blas"):
                yield
        finally:
            numba.set_num_threads(before)

    def decode(self, data):
        """Image bytes -> (uint8 (C, H, W) as the model sees it, info dict). Raises RequestError."""
        if not data:
            raise RequestError(400, "empty upload: the request body has 0 bytes (send the image "
                                    "file's bytes as the body)")
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as im:   # reads the header only
                (width, height), fmt, mode = im.size, im.format, im.mode
        except UnidentifiedImageError:
            raise RequestError(400, f"not an image: the {len(data):,} bytes are none of "
                                    f"{', '.join(FORMATS)}") from None
        except Image.DecompressionBombError as e:
            raise RequestError(413, f"image too large in pixels: {e}") from None
        except Exception as e:  # a header so broken that Pillow fails while identifying it
            raise RequestError(400, f"not a readable image ({type(e).__name__}: {e})") from None
        if width * height > MAX_PIXELS:
            raise RequestError(413, f"image too large in pixels: {width}x{height} = "
                                    f"{width * height:,} pixels; the limit is {MAX_PIXELS:,}")
        try:
            x = load_image(io.BytesIO(data), self.image_size, self.color,
                           name=f"the uploaded {fmt} image ({width}x{height})", crop=self.crop)
        except ValueError as e:  # truncated or corrupt data; the message says what Pillow said
            raise RequestError(400, str(e)) from None
        return x, {"format": fmt, "width": width, "height": height, "mode": mode,
                   "bytes": len(data)}

    def predict(self, data):
        """Image bytes -> the JSON-able answer of ``POST /api/predict`` (see docs/serve.md)."""
        t0 = time.perf_counter()
        x, info = self.decode(data)                                    # C,H,W uint8
        t1 = time.perf_counter()
        with self._lock, self._one_thread():                           # one model pass at a time
            probs = predict(self.model, x[None])[0]                    # K, as minicnn predict
            t2 = time.perf_counter()
            top = int(probs.argmax())
            cam_pass = CAMPass(self.model, self.transform(x[None]))
            heat = cam_pass.cam(top)[0]                                # H,W in [0, 1]
            layer = cam_pass.layer_name
        t3 = time.perf_counter()
        scan = x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)       # H,W or H,W,3
        answer = {
            "class": self.classes[top], "class_index": top, "probability": float(probs[top]),
            "probabilities": dict(zip(self.classes, map(float, probs))),
            "input_png": png_base64(scan),
            "gradcam_png": png_base64(self._lut[np.rint(heat * 255).astype(np.intp)]),  # H,W,3
            "gradcam_layer": layer, "image": info,
        }
        t4 = time.perf_counter()
        spans = ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t0, t4))
        ms = [round(1000 * (b - a), 2) for a, b in spans]
        answer["timing_ms"] = ms[-1]
        answer["timing_detail_ms"] = dict(zip(("decode", "predict", "gradcam", "encode"), ms))
        return answer

    def warm_up(self):
        """One prediction on a blank PNG, so Numba's cached kernels load before the first user."""
        buf = io.BytesIO()
        Image.new("L", (self.image_size, self.image_size)).save(buf, format="PNG")
        self.predict(buf.getvalue())
