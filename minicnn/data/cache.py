"""Cache of decoded, resized image folders, so decoding is paid once.

Where: ``$MINICNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/minicnn``, else ``~/.cache/minicnn``; never
inside the data folder (treat it as read-only). One file per (folder, image_size, color, crop):
``<folder name>-<16 hex>.npz``, so a changed folder overwrites its old entry instead of piling up.

What makes an entry valid: its ``key``, a SHA-256 over the format version, the Pillow version,
image_size, color, crop (when on), and every file's relative path, label and a BLAKE2b hash of
its bytes. Adding, removing, moving or changing a file changes the key and the folder is decoded
again.
Sizes and modification times are not trusted: ``cp -p``, ``rsync -t``, archive extraction and
FAT's 2-second clock all rewrite a file while keeping both, and a cache must never change what
the data says. Hashing reads every file: 0.33 s for the 5,708 Kaggle training images (52 MB, on
a busy 2-core machine), a small price next to decoding them. An unreadable file gets a marker
instead of a hash, and decoding then skips it with a warning.

Safety: entries are plain ``.npz`` written with ``np.savez`` and read with
``allow_pickle=False`` (strings are stored as fixed-width unicode arrays), so a cache file can
hold only arrays, never code. Writes go through ``minicnn.atomic`` (a temporary file renamed over
the entry), so a crash never leaves a half-written entry.
"""
import hashlib
import json
import os
import warnings

import numpy as np
import PIL

from minicnn.atomic import atomic_write

CACHE_FORMAT = 2          #: 2: files identified by a hash of their bytes, not size and mtime


def default_cache_dir():
    if os.environ.get("MINICNN_CACHE_DIR"):
        return os.environ["MINICNN_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minicnn")


def _sha(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def entry_path(folder, image_size, color, cache_dir=None, crop=False):
    folder = os.path.abspath(folder)
    name = os.path.basename(folder.rstrip(os.sep)) or "root"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
    digest = _sha([folder, int(image_size), color] + (["crop"] if crop else []))[:16]
    return os.path.join(cache_dir or default_cache_dir(), f"{safe}-{digest}.npz")


def content_key(files, image_size, color, crop=False):
    """files: list of (relative path, label, absolute path). Hashes each file's bytes."""
    listing = []
    for rel, label, full in files:
        h = hashlib.blake2b(digest_size=16)
        try:
            with open(full, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
        except OSError as e:        # unreadable: decoding will skip it with a warning
            digest = f"unreadable: {e.strerror}"
        listing.append([rel, int(label), digest])
    options = {"crop": True} if crop else {}   # absent when off: older entries stay valid
    return _sha({"format": CACHE_FORMAT, "pillow": PIL.__version__, "image_size": int(image_size),
                 "color": color, "files": listing, **options})


def read(path, key):
    """The cached arrays for ``key`` as a dict, or None (missing, stale or unreadable entry)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return {"images": z["images"], "labels": z["labels"],
                    "relpaths": [str(p) for p in z["relpaths"]],
                    "skipped": [str(p) for p in z["skipped"]]}
    except Exception:   # a damaged entry is just a miss; it is overwritten below
        return None


def write(path, key, images, labels, relpaths, skipped):
    """Atomically store one entry. Failure to write (read-only home...) only warns."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_write(path) as f:
            np.savez(f, key=np.array(key), images=images, labels=labels,
                     relpaths=np.array(relpaths, dtype=str),
                     skipped=np.array(skipped, dtype=str))
    except OSError as e:
        warnings.warn(f"minicnn: could not write the image cache {path}: {e}", stacklevel=3)
