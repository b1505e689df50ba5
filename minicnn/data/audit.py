"""Leakage audit: duplicate images within and across a train/test pair of image folders.

    report = audit("Training", "Testing")          # folders laid out like load_folder expects
    print(report.summary())
    report.leaked_test_paths                       # test files that also appear in training
    json.dump(report.to_dict(), f)

Three relations join two files:
- same bytes      (SHA-256 of the file),
- same pixels     (SHA-256 of the decoded 8-bit array and its shape: e.g. a PNG and a BMP copy),
                  decoded at full resolution,
- near duplicate  (256-bit perceptual hashes within ``threshold`` bits; ``minicnn.data.duplicates``),
                  the image or its left-right mirror image (a mirror copy is the same scan to a
                  model trained with flips).
A duplicate group is a connected component of these relations with two or more files; it is
"exact" if all its files have the same pixels, else "near". A group "leaks" if it has files in
both splits, and "conflicts" if its files carry different class labels.
"""
import hashlib
import io
import os

import numpy as np
from PIL import Image

from minicnn.data.decode import open_image, to_8bit
from minicnn.data.duplicates import (NEAR_THRESHOLD, THUMB_SIZE, connected_groups, equal_pairs,
                                     has_near, mirror_hashes, mirror_pairs, near_pairs, phash,
                                     pixel_digest, to_gray)
from minicnn.data.folders import load_folder, parallel_map, scan_folder

HASH_NAME = "256-bit DCT hash (16x16 low frequencies of a centroid-centred 64x64 thumbnail)"


def _fingerprint(full):
    """One file -> (byte digest, pixel digest, 64x64 gray uint8 thumbnail for the hash), or
    (None, None, error text). The thumbnail is the 8-bit luma image resized like load_folder
    does (Pillow BILINEAR, antialiased); ``phash`` then runs on all thumbnails at once."""
    try:
        with open(full, "rb") as f:
            data = f.read()
        with open_image(io.BytesIO(data), name=full) as im:
            im = to_8bit(im)
            a = np.asarray(im)                                      # H,W or H,W,3 uint8
            thumb = im.convert("L").resize((THUMB_SIZE, THUMB_SIZE), Image.BILINEAR)
        return hashlib.sha256(data).hexdigest(), pixel_digest(a), np.asarray(thumb, dtype=np.uint8)
    except Exception as e:   # Pillow raises many kinds on a bad file
        return None, None, f"{type(e).__name__}: {e}"


class AuditReport:
    """What ``audit`` found. Attributes: threshold, roots {split: dir}, classes {split: [...]},
    files (list of dicts: split, path, label), groups (list of dicts: kind, files (indices into
    ``files``), labels, splits, same_bytes), byte_groups / pixel_groups (lists of index lists),
    undecodable (list of (split, path, error))."""

    def __init__(self, threshold, roots, classes, files, groups, byte_groups, pixel_groups,
                 undecodable):
        self.threshold, self.roots, self.classes, self.files = threshold, roots, classes, files
        self.groups, self.byte_groups, self.pixel_groups = groups, byte_groups, pixel_groups
        self.undecodable = undecodable

    def _where(self, group, split):
        return [i for i in group["files"] if self.files[i]["split"] == split]

    @property
    def leaking_groups(self):
        return [g for g in self.groups if len(g["splits"]) > 1]

    @property
    def conflicting_groups(self):
        return [g for g in self.groups if len(g["labels"]) > 1]

    @property
    def leaked_test_paths(self):
        """Test files with an exact or near copy in training (absolute paths, sorted)."""
        return sorted(self.files[i]["path"] for g in self.leaking_groups
                      for i in self._where(g, "test"))

    def leaked_test_mask(self, paths):
        """bool (len(paths),): which of these test files leak (e.g. ``test_ds.paths``)."""
        leaked = {os.path.abspath(p) for p in self.leaked_test_paths}
        return np.array([os.path.abspath(p) in leaked for p in paths], dtype=bool)

    def class_table(self):
        """{split: {class: {"files", "in_groups", "unique"}}}: unique counts a group once."""
        table = {}
        group_of = {i: k for k, g in enumerate(self.groups) for i in g["files"]}
        for split in self.roots:
            rows = {}
            for cls in self.classes[split]:
                idx = [i for i, f in enumerate(self.files)
                       if f["split"] == split and f["label"] == cls]
                in_groups = [i for i in idx if i in group_of]
                rows[cls] = {"files": len(idx), "in_groups": len(in_groups),
                             "unique": len(idx) - len(in_groups)
                             + len({group_of[i] for i in in_groups})}
            table[split] = rows
        return table

    def counts(self):
        """Headline numbers (a flat dict of ints), the ones the summary and docs quote."""
        def n_files(groups):
            return sum(len(g) for g in groups)
        within = {s: [g for g in self.groups if g["splits"] == [s]] for s in self.roots}
        out = {"files": len(self.files), "byte_groups": len(self.byte_groups),
               "byte_group_files": n_files(self.byte_groups),
               "pixel_groups": len(self.pixel_groups),
               "pixel_group_files": n_files(self.pixel_groups),
               "groups": len(self.groups), "group_files": n_files(g["files"] for g in self.groups),
               "near_groups": sum(g["kind"] == "near" for g in self.groups),
               "conflicting_groups": len(self.conflicting_groups),
               "leaking_groups": len(self.leaking_groups),
               "leaked_test_files": len(self.leaked_test_paths),
               "undecodable": len(self.undecodable)}
        for s, gs in within.items():
            out[f"groups_within_{s}"] = len(gs)
            out[f"redundant_{s}_files"] = sum(len(g["files"]) - 1 for g in gs)
        return out

    def to_dict(self):
        def members(g):
            return [f"{self.files[i]['split']}:{self.files[i]['path']}" for i in g["files"]]
        return {"hash": HASH_NAME, "threshold": self.threshold, "roots": self.roots,
                "counts": self.counts(), "classes": self.class_table(),
                "leaked_test_paths": self.leaked_test_paths,
                "groups": [{"kind": g["kind"], "same_bytes": g["same_bytes"],
                            "splits": g["splits"], "labels": g["labels"], "files": members(g)}
                           for g in self.groups],
                "undecodable": [{"split": s, "path": p, "error": e}
                                for s, p, e in self.undecodable]}

    def summary(self):
        """A readable multi-line summary (the full lists are in ``to_dict()``)."""
        c = self.counts()
        lines = [f"near duplicates: {HASH_NAME}, Hamming distance <= {self.threshold} of 256"]
        table = self.class_table()
        for split, root in self.roots.items():
            n = sum(r["files"] for r in table[split].values())
            lines += [f"{split}: {root}  ({n} images, {len(table[split])} classes)",
                      f"  {'class':<14}{'images':>8}{'in groups':>11}{'unique':>8}"]
            lines += [f"  {cls:<14}{r['files']:>8}{r['in_groups']:>11}{r['unique']:>8}"
                      for cls, r in table[split].items()]
        lines.append(f"byte-identical files: {c['byte_groups']} groups ({c['byte_group_files']} "
                     f"files); identical pixels: {c['pixel_groups']} groups "
                     f"({c['pixel_group_files']} files)")
        lines.append(f"duplicate groups (exact or near): {c['groups']} ({c['group_files']} files, "
                     f"{c['near_groups']} of them with near copies)")
        for split in self.roots:
            lines.append(f"  within {split}: {c[f'groups_within_{split}']} groups, "
                         f"{c[f'redundant_{split}_files']} redundant copies")
        if "test" in self.roots:
            lines.append(f"  across train/test: {c['leaking_groups']} groups; test images also "
                         f"in train: {c['leaked_test_files']}")
        lines.append(f"groups whose labels disagree: {c['conflicting_groups']}")
        for g in self.conflicting_groups[:5]:
            lines.append("  " + ", ".join(f"{self.files[i]['label']}:"
                                          f"{os.path.basename(self.files[i]['path'])}"
                                          for i in g["files"][:6]))
        if self.undecodable:
            lines.append(f"undecodable image files (skipped): {len(self.undecodable)}")
        return "\n".join(lines)


def audit(train_dir, test_dir=None, threshold=NEAR_THRESHOLD, workers=None):
    """Audit one or two class-per-folder directories -> AuditReport (see the module docstring)."""
    roots = {"train": os.path.abspath(train_dir)}
    if test_dir is not None:
        roots["test"] = os.path.abspath(test_dir)
    files, classes = [], {}
    for split, root in roots.items():
        classes[split], listing = scan_folder(root)
        files += [{"split": split, "path": full, "label": classes[split][label]}
                  for _, label, full in listing]
    prints = parallel_map(_fingerprint, [f["path"] for f in files], workers)
    undecodable = [(files[i]["split"], files[i]["path"], p[2])
                   for i, p in enumerate(prints) if p[0] is None]
    keep = [i for i, p in enumerate(prints) if p[0] is not None]
    files = [files[i] for i in keep]
    prints = [prints[i] for i in keep]
    n = len(files)
    byte_ids = connected_groups(n, equal_pairs([p[0] for p in prints]))
    pixel_ids = connected_groups(n, equal_pairs([p[1] for p in prints]))
    thumbs = np.array([p[2] for p in prints]).reshape(n, THUMB_SIZE, THUMB_SIZE)
    hashes = phash(thumbs)
    pairs = np.concatenate([equal_pairs([p[1] for p in prints]), near_pairs(hashes, threshold),
                            mirror_pairs(hashes, mirror_hashes(thumbs), threshold)])
    group_ids = connected_groups(n, pairs)

    def members(ids):
        return [list(np.flatnonzero(ids == k)) for k in np.flatnonzero(np.bincount(ids) > 1)]

    groups = []
    for idx in members(group_ids):
        idx = [int(i) for i in idx]
        groups.append({"files": idx,
                       "kind": "exact" if len(set(pixel_ids[idx])) == 1 else "near",
                       "same_bytes": len(set(byte_ids[idx])) == 1,
                       "labels": sorted({files[i]["label"] for i in idx}),
                       "splits": [s for s in roots if any(files[i]["split"] == s for i in idx)]})
    return AuditReport(threshold, roots, classes, files, groups,
                       [[int(i) for i in g] for g in members(byte_ids)],
                       [[int(i) for i in g] for g in members(pixel_ids)], undecodable)


def _images_and_hashes(data, mirrored=False):
    """(Dataset, hashes), and with ``mirrored`` the hashes of its images flipped left-right."""
    ds = load_folder(data) if isinstance(data, (str, os.PathLike)) else data
    gray = to_gray(ds.images)
    return (ds, phash(gray)) + ((mirror_hashes(gray),) if mirrored else ())


def leaked_test_mask(train, test, threshold=NEAR_THRESHOLD):
    """bool (len(test),): test images with an exact (same pixels) or near copy in train, or a
    near mirror-image copy.

    train, test: Datasets or folder paths (loaded at 64x64 grayscale, cached). The mask follows
    the order of ``test`` (a Dataset's order, or load_folder's sorted order), so
    ``acc_clean = (pred == y)[~mask].mean()`` is the accuracy on images the model never saw.
    """
    train_ds, train_hashes = _images_and_hashes(train)
    test_ds, test_hashes, test_mirrored = _images_and_hashes(test, mirrored=True)
    train_pixels = {pixel_digest(im) for im in train_ds.images}
    exact = np.array([pixel_digest(im) in train_pixels for im in test_ds.images], dtype=bool)
    return (exact | has_near(test_hashes, train_hashes, threshold)
            | has_near(test_mirrored, train_hashes, threshold))
