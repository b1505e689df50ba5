"""Load a class-per-folder image directory (``<dir>/<class>/*.jpg``) into a ``Dataset``.

    ds = load_folder("brain-tumor-mri/Training", image_size=64)          # grayscale by default
    ds = load_kaggle("brain-tumor-mri", split="Testing", color="rgb")

Layout rules: classes are the sub-folder names, sorted (hidden folders such as
``.ipynb_checkpoints`` are skipped); files directly inside a class folder with an image extension
(JPEG, PNG, BMP, TIFF) are loaded in sorted name order; other files and deeper folders are
ignored. Files with an image extension that fail to decode are skipped with one warning listing
them (``strict=True`` raises instead). Decoding is described in ``minicnn.data.decode``; results
are cached (``minicnn.data.cache``), so the second load of a folder skips decoding.
"""
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from minicnn.data import cache as _cache
from minicnn.data.dataset import Dataset, check_color
from minicnn.data.decode import check_image_size, is_image_file, load_image


def scan_folder(path):
    """-> (classes, files) with files = [(relative path, label, absolute path)], sorted."""
    root = os.path.abspath(path)
    if not os.path.isdir(root):
        raise ValueError(f"image folder not found: {path}")
    classes = sorted(d for d in os.listdir(root)
                     if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise ValueError(f"no class folders in {path} (expected {path}/<class>/<image files>)")
    files = []
    for label, cls in enumerate(classes):
        names = sorted(n for n in os.listdir(os.path.join(root, cls)) if is_image_file(n)
                       and os.path.isfile(os.path.join(root, cls, n)))
        if not names:
            hint = ""
            if cls.lower() in ("training", "testing"):
                hint = (f"; {path} looks like a Kaggle root: use load_kaggle({path!r}) "
                        f"or the path {os.path.join(path, cls)}")
            raise ValueError(f"class folder has no image files: {os.path.join(path, cls)}{hint}")
        files += [(f"{cls}/{n}", label, os.path.join(root, cls, n)) for n in names]
    return classes, files


def _decode_one(args):
    full, image_size, color, crop = args
    try:
        return load_image(full, image_size, color, crop=crop), None
    except Exception as e:   # Pillow raises OSError, ValueError, SyntaxError... on bad files
        return None, f"{type(e).__name__}: {e}"


def _default_workers(n_files):
    if n_files < 200 or not sys.platform.startswith("linux"):
        return 1                  # fork is Linux-only here; small folders are not worth a pool
    if multiprocessing.current_process().daemon:
        return 1                  # a pool worker may not start its own pool
    return min(len(os.sched_getaffinity(0)), 8)


def parallel_map(fn, items, workers=None):
    """[fn(item) for item in items], in a pool of forked processes when that helps.

    fn must be a module-level function (it is sent to the workers by name). A worker that dies
    (the out-of-memory killer, a crash in a decoder) raises ChildProcessError at once; a
    ``multiprocessing.Pool`` would wait for its results forever.
    """
    workers = _default_workers(len(items)) if workers is None else int(workers)
    if workers <= 1:
        return [fn(item) for item in items]
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        return list(pool.map(fn, items, chunksize=64))
    except BrokenProcessPool:
        raise ChildProcessError(f"a worker process died while working through {len(items)} "
                                f"files (killed for lack of memory?); nothing was loaded. Try "
                                f"again with workers=1 or with more free memory") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)   # Ctrl-C: do not finish the queue first


def decode_files(fulls, image_size, color, workers=None, crop=False):
    """Decode many files -> list of (array or None, error or None), in input order."""
    return parallel_map(_decode_one, [(f, image_size, color, crop) for f in fulls], workers)


def load_folder(path, image_size=64, color="grayscale", strict=False, cache=True,
                cache_dir=None, workers=None, crop=False):
    """Load ``path/<class>/<images>`` -> Dataset (uint8 (N, C, image_size, image_size)).

    color: "grayscale" (C=1) or "rgb" (C=3). strict: raise on an undecodable image file instead
    of warning and skipping it. cache: reuse/store decoded arrays in ``cache_dir`` (default
    ``$MINICNN_CACHE_DIR`` or ``~/.cache/minicnn``). workers: decoding processes (None: all
    available cores on Linux for 200+ files, else 1). crop: cut each picture to the square around
    the head before resizing (``minicnn.data.crop``).
    """
    channels = check_color(color)
    image_size = check_image_size(image_size)
    classes, files = scan_folder(path)
    root = os.path.abspath(path)
    hit = None
    if cache:
        key = _cache.content_key(files, image_size, color, crop)
        entry = _cache.entry_path(root, image_size, color, cache_dir, crop)
        hit = _cache.read(entry, key)
    if hit is not None:
        images, labels, relpaths, skipped = (hit["images"], hit["labels"], hit["relpaths"],
                                             hit["skipped"])
    else:
        results = decode_files([f[2] for f in files], image_size, color, workers, crop)
        keep = [i for i, (arr, _) in enumerate(results) if arr is not None]
        skipped = [f"{files[i][0]} ({err})" for i, (_, err) in enumerate(results) if err]
        shape = (0, channels, image_size, image_size)
        images = (np.stack([results[i][0] for i in keep]) if keep   # N,C,H,W
                  else np.zeros(shape, np.uint8))
        labels = np.array([files[i][1] for i in keep], dtype=np.int64)
        relpaths = [files[i][0] for i in keep]
        if cache and not (strict and skipped):
            _cache.write(entry, key, images, labels, relpaths, skipped)
    if skipped:
        listing = "\n  ".join(skipped)
        if strict:
            raise ValueError(f"{len(skipped)} image file(s) in {path} could not be decoded:\n"
                             f"  {listing}")
        warnings.warn(f"minicnn: skipped {len(skipped)} image file(s) in {path} that could not "
                      f"be decoded:\n  {listing}", stacklevel=2)
    empty = [c for k, c in enumerate(classes) if not np.any(labels == k)]
    if empty:
        raise ValueError(f"no decodable images in class folder(s) "
                         f"{', '.join(os.path.join(path, c) for c in empty)}")
    return Dataset(images, labels, classes, [os.path.join(root, r) for r in relpaths],
                   image_size, color, crop)


def kaggle_split_dir(root, split="Training"):
    """The folder of one split of a Kaggle-style root (``Training``/``Testing``, any case)."""
    if split.lower() not in ("training", "testing"):
        raise ValueError(f"split: expected 'Training' or 'Testing', got {split!r}")
    if not os.path.isdir(root):
        raise ValueError(f"dataset root not found: {root}")
    for name in sorted(os.listdir(root)):
        if name.lower() == split.lower() and os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    raise ValueError(f"no {split}/ folder in {root} (expected {root}/{split}/<class>/<images>)")


def data_dir(path, split="Training"):
    """The class-per-folder directory: ``path`` itself, or ``path/<split>`` for a Kaggle root.

    A Kaggle root that holds only the other split is an error: read as a class-per-folder
    directory, it would be one class called "Training" (or "Testing")."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"data folder {path} does not exist")
    try:
        return kaggle_split_dir(path, split)
    except ValueError:
        pass
    other = {"training": "Testing", "testing": "Training"}.get(split.lower())
    try:                                       # a Kaggle root without the split asked for?
        kaggle_split_dir(path, other or "")
    except ValueError:
        return path                            # not a Kaggle root: the folder holds the classes
    raise FileNotFoundError(f"{path} has a {other}/ folder but no {split}/ folder: give "
                            f"the folder that holds the class folders to use")


def trained_on(split_info, folder):
    """True when ``folder`` (a class-per-folder directory) is the one a checkpoint's
    ``metadata["split"]`` (``split_info``) records it was trained on, on this machine."""
    src = (split_info or {}).get("data")
    if not src or src == "bundled" or not os.path.isdir(src):
        return False
    return os.path.realpath(data_dir(src)) == os.path.realpath(folder)


def load_data(path, image_size, color, split="Training", crop=False):
    """A class-per-folder directory, or a Kaggle root (then its ``split`` folder) -> Dataset."""
    return load_folder(data_dir(path, split), image_size=image_size, color=color, crop=crop)


def load_kaggle(root, split="Training", **kwargs):
    """Load one split of the Kaggle layout ``root/{Training,Testing}/<class>/*.jpg``.

    kwargs go to ``load_folder`` (image_size, color, strict, cache, cache_dir, workers, crop).
    """
    return load_folder(kaggle_split_dir(root, split), **kwargs)
