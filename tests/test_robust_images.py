"""Hostile images, dying decode workers and a cache that must not lie (issue 13).

Proves: a decompression bomb (a PNG announcing 30000x30000 pixels) and a 12000x12000 16-bit PNG
are refused from their headers, as a one-line ``minicnn predict`` error and a skipped file in
``load_folder``; a 16-bit image that is decoded takes memory proportional to its pixels (no
full-size float64 copies); a float TIFF with a NaN or inf pixel is refused instead of turning
all black; a decode worker killed during ``load_folder`` or ``audit`` ends the call with a clear
error instead of hanging; the cache notices a file rewritten with the same size and mtime, and
files swapped between class folders.
"""
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from PIL import Image

from minicnn.cli import main
from minicnn.data import load_folder, load_image


def png_header_only(path, width, height, bit_depth=8):
    """A valid PNG signature + IHDR announcing width x height, with a tiny IDAT: what a
    decompression bomb looks like to a decoder before it starts."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("width, height, bits", [(30000, 30000, 8), (12000, 12000, 16)])
def test_huge_images_are_refused_from_the_header(tmp_path, width, height, bits):
    bomb = png_header_only(tmp_path / "bomb.png", width, height, bits)
    with pytest.raises(ValueError, match="bomb.png"):
        load_image(bomb, 64)


def test_predict_command_on_a_bomb_is_one_line(tmp_path, capsys, monkeypatch):
    import minicnn as mc
    from minicnn.data import Standardizer
    monkeypatch.delenv("MINICNN_DEBUG", raising=False)
    model = mc.Sequential([mc.Conv2D(1, 2, 3), mc.GlobalAvgPool2D(), mc.Dense(2, 2)])
    model.save(tmp_path / "m.npz", metadata={
        "classes": ["a", "b"], "image_size": 8, "color": "grayscale",
        "preprocessing": Standardizer("per_batch").to_dict()})
    bomb = png_header_only(tmp_path / "bomb.png", 30000, 30000)
    assert main(["predict", "--checkpoint", str(tmp_path / "m.npz"), str(bomb)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and "bomb.png" in err, err


def test_bad_images_are_skipped_by_load_folder(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((8, 8), 50 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    png_header_only(tmp_path / "a" / "bomb.png", 30000, 30000)
    nan = np.ones((8, 8), np.float32)
    nan[3, 3] = np.nan
    Image.fromarray(nan, "F").save(tmp_path / "b" / "nan.tif")
    with pytest.warns(UserWarning, match="skipped 2 image file"):
        ds = load_folder(tmp_path, image_size=8, cache=False)
    assert len(ds) == 4


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_non_finite_pixel_is_refused(tmp_path, value):
    """Was: the min..max stretch met a NaN and the whole image decoded to zeros, silently."""
    a = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(a, "F").save(tmp_path / "ok.tif")
    assert load_image(tmp_path / "ok.tif", 8).max() == 255
    a[2, 5] = value
    Image.fromarray(a, "F").save(tmp_path / "bad.tif")
    with pytest.raises(ValueError, match="NaN or infinite"):
        load_image(tmp_path / "bad.tif", 8)


MEMORY = textwrap.dedent("""
    import json, resource, sys
    from minicnn.data import load_image
    load_image(sys.argv[2], 64)                          # warm up Pillow's PNG decoder
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    x = load_image(sys.argv[1], 64)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
    print(json.dumps({"grown_mb": grown, "shape": list(x.shape)}))
""")


def test_sixteen_bit_decode_memory_is_a_few_bytes_per_pixel(tmp_path):
    """9 M pixels of 16 bits: was ~8 bytes per pixel several times over (float64 copies)."""
    a = (np.arange(3000 * 3000, dtype=np.uint32) % 65536).astype(np.uint16).reshape(3000, 3000)
    Image.fromarray(a).save(tmp_path / "big.png")               # uint16 -> mode I;16
    Image.fromarray(a[:8, :8]).save(tmp_path / "small.png")
    out = subprocess.run([sys.executable, "-c", MEMORY, str(tmp_path / "big.png"),
                          str(tmp_path / "small.png")],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [1, 64, 64]
    assert result["grown_mb"] < 90, result          # 9 M px: 18 MB image + 18 MB array + 9 MB


KILL = textwrap.dedent("""
    import importlib, os, signal, sys
    import numpy as np
    from PIL import Image
    audit_module = importlib.import_module("minicnn.data.audit")
    folders = importlib.import_module("minicnn.data.folders")
    root = sys.argv[1]
    for cls in ("a", "b"):
        os.makedirs(os.path.join(root, cls))
        for i in range(120):
            Image.fromarray(np.full((4, 4), i, np.uint8)).save(os.path.join(root, cls, f"{i}.png"))
    victim = os.path.join(root, "b", "77.png")
    def die_on_victim(real):
        def f(path, *args, **kwargs):
            if kwargs.get("name", path) == victim or str(path) == victim:
                os.kill(os.getpid(), signal.SIGKILL)      # as the out-of-memory killer would
            return real(path, *args, **kwargs)
        return f
    folders.load_image = die_on_victim(folders.load_image)
    audit_module.open_image = die_on_victim(audit_module.open_image)
    for name, call in (("load_folder", lambda: folders.load_folder(root, 4, cache=False, workers=2)),
                       ("audit", lambda: audit_module.audit(root, workers=2))):
        try:
            call()
            print(name, "no error")
        except ChildProcessError as e:
            print(name, "ChildProcessError", "worker process died" in str(e))
""")


def test_a_killed_worker_fails_clearly_instead_of_hanging(tmp_path):
    out = subprocess.run([sys.executable, "-c", KILL, str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["load_folder ChildProcessError True",
                                          "audit ChildProcessError True"], out.stdout


def test_cache_never_serves_changed_files(tmp_path):
    root = tmp_path / "data"
    for k, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 6), 40 * k + 10 * i, np.uint8)).save(root / cls / f"{i}.png")
    cache = tmp_path / "cache"
    first = load_folder(root, 6, cache_dir=cache)
    # rewrite a.png in place: same size, same modification time (cp -p, rsync -t, unzip)
    target = root / "a" / "1.png"
    st = os.stat(target)
    Image.fromarray(np.full((6, 6), 99, np.uint8)).save(target)
    assert os.path.getsize(target) == st.st_size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = load_folder(root, 6, cache_dir=cache)
    assert second.images[1].max() == 99 and first.images[1].max() == 10
    # swap two files between the class folders, keeping sizes and times
    a, b = root / "a" / "2.png", root / "b" / "2.png"
    sa, sb = os.stat(a), os.stat(b)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    os.utime(a, ns=(sa.st_atime_ns, sa.st_mtime_ns))
    os.utime(b, ns=(sb.st_atime_ns, sb.st_mtime_ns))
    third = load_folder(root, 6, cache_dir=cache)
    assert third.images[2].max() == second.images[5].max()    # a/2.png now holds b's pixels
    assert third.images[5].max() == second.images[2].max()
