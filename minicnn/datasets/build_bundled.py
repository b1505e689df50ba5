"""Build the bundled dataset from a Kaggle "Brain Tumor MRI Dataset" Training folder.

    python -m minicnn.datasets.build_bundled --source brain-tumor-mri/Training
    python -m minicnn.datasets.build_bundled --source DIR --image-size 64 --out my.npz

Every image is decoded exactly as ``minicnn.data.load_folder`` does (grayscale, Pillow BILINEAR
resize) and stored with ``np.savez_compressed``: images uint8 (N, 1, S, S), labels int64 (N,),
classes, the original relative file names, and a JSON provenance record.
"""
import argparse
import datetime
import hashlib
import json
import os
import sys

import numpy as np
import PIL

from minicnn.atomic import atomic_write
from minicnn.data.bundled import BUNDLE_NAME
from minicnn.data.decode import RESIZE_METHOD
from minicnn.data.folders import load_folder

SOURCE = {
    "name": "Brain Tumor MRI Dataset (Training split)",
    "url": "https://www.kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset",
    "author": "Masoud Nickparvar",
    "licence": "CC0: Public Domain (as listed on Kaggle)",
    "collections": "figshare, SARTAJ and Br35H",
}


def build(source, out, image_size=64):
    ds = load_folder(source, image_size=image_size, color="grayscale", strict=True, cache=False)
    root = os.path.abspath(source)
    rel = [os.path.relpath(p, root).replace(os.sep, "/") for p in ds.paths]
    provenance = dict(SOURCE, build_command=f"python -m minicnn.datasets.build_bundled --source "
                      f"{os.path.basename(root.rstrip(os.sep))} --image-size {image_size}",
                      built=datetime.date.today().isoformat(), image_size=image_size,
                      color="grayscale", resize=RESIZE_METHOD, pillow=PIL.__version__,
                      n_images=len(ds), class_counts=dict(zip(ds.classes,
                                                              ds.class_counts().tolist())),
                      images_sha256=hashlib.sha256(ds.images.tobytes()).hexdigest())
    with atomic_write(out) as f:
        np.savez_compressed(f, images=ds.images, labels=ds.labels,
                            classes=np.array(ds.classes, dtype=str), paths=np.array(rel, dtype=str),
                            provenance=np.array(json.dumps(provenance)))
    return ds, provenance


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the Training folder (<class>/<images>)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), BUNDLE_NAME))
    args = parser.parse_args(argv)
    ds, prov = build(args.source, args.out, args.image_size)
    mb = os.path.getsize(args.out) / 1e6
    print(f"wrote {args.out}: {len(ds)} images {args.image_size}x{args.image_size}, "
          f"{prov['class_counts']}, {mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
