"""Exact and near-duplicate images: a 256-bit perceptual hash and duplicate groups.

Perceptual hash (a DCT "pHash" made tolerant to small shifts; plain NumPy):

1. a 64x64 gray thumbnail: the audit and ``find_duplicate_groups`` on 64x64 datasets use the
   images as ``load_folder`` resizes them (Pillow BILINEAR); ``phash`` on any other size
   averages areas (each output pixel is the mean of the input area it covers; ``area_matrix``);
2. move the thumbnail so its intensity centroid sits at the centre (bilinear, borders clamped):
   a copy shifted by a few pixels then lines up with the original;
3. 2-D DCT-II, ``D @ X @ D.T`` with D the orthonormal DCT matrix, and keep the 16x16 lowest
   frequencies (DC included);
4. one bit per coefficient: 1 if it is above the median of those 256 values. The hash is stored
   as 4 uint64 words per image.

Two images are near duplicates when their hashes differ in at most ``NEAR_THRESHOLD`` = 16 of the
256 bits (Hamming distance). Measured on 300 images of the shared Training folder
(docs/data.md): re-encoding as JPEG quality 50 moves at most 14 bits, resizing 224 -> 150 at
most 6, a shift by 1 / 2 / 4 pixels at 224x224 stays within 16 bits for 99% / 96% / 91% of the
images (misses are images whose content touches the border); distinct images are mostly 40+
bits apart. Because the bits compare coefficients with their median, brightness/contrast
changes of the same slice also match.
The textbook 64-bit pHash (8x8 coefficients) is too coarse for brain MRI: different sagittal
slices often hash identically.

Mirror images. Flipping an image left-right flips the sign of every DCT coefficient with an odd
horizontal frequency, so the hash of a mirror copy differs from the original's in about half its
bits (about 126 of 256 measured), as far as two unrelated scans. The Kaggle Training folder holds
about 2,400 pairs of scans that are each other's mirror image to within a grey level (a mean
absolute difference under 1 of 255 at 64x64); a split that kept only plain copies together put
488 of its 1,141 validation images opposite their mirror image in training, where the horizontal
flip of the training augmentation shows the model exactly the validation scan. So
``find_duplicate_groups`` (``mirrors=True``, the default) also joins i and j when the hash of i's
mirror image is within ``threshold`` bits of j's hash (``mirror_pairs``).

``find_duplicate_groups`` joins images that are pixel-identical or near duplicates into groups
(connected components), so that ``train_val_split(..., groups=...)`` keeps every copy on one side.
"""
import hashlib

import numpy as np

NEAR_THRESHOLD = 16
HASH_SIZE = 16         # 16x16 = 256 bits
THUMB_SIZE = 64


def area_matrix(n_in, n_out):
    """(n_out, n_in) weights: row i averages the input interval [i, i+1) * n_in / n_out."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]                          # n_out,1
    px = np.arange(n_in)[None, :]                                       # 1,n_in
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def dct_matrix(n):
    """Orthonormal DCT-II matrix D (n, n): D @ x is the DCT of a length-n signal x."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    d[0] /= np.sqrt(2.0)
    return d


def to_gray(images):
    """uint8 (N, C, H, W) with C = 1 or 3 -> float64 (N, H, W), luma 0.299 R + 0.587 G + 0.114 B."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, 1 or 3, H, W), got {images.shape}")
    if images.shape[1] == 1:
        return images[:, 0].astype(np.float64)
    return np.tensordot(np.array([0.299, 0.587, 0.114]), images.astype(np.float64), axes=(0, 1))


def shift_matrices(shifts, size):
    """shifts (N,) in pixels -> (N, size, size) matrices M with (M @ v)[i] = v at position
    i - shift, read by linear interpolation and clamped to the ends: a 1-D bilinear shift."""
    src = np.clip(np.arange(size)[None, :] - np.asarray(shifts, float)[:, None], 0, size - 1)
    lo = np.floor(src).astype(np.int64)                                 # N,size
    hi = np.minimum(lo + 1, size - 1)
    w = src - lo
    m = np.zeros((len(src), size, size))
    n_idx, i_idx = np.indices(src.shape)                                # N,size each
    m[n_idx, i_idx, lo] = 1 - w
    m[n_idx, i_idx, hi] += w                                            # hi == lo only when w == 0
    return m


def centring_matrices(t):
    """t: float (N, S, S) -> (My, Mx), each (N, S, S), such that My @ t @ Mx.T is t shifted
    (bilinear, borders clamped) so its intensity centroid lies at the centre (S-1)/2."""
    size = t.shape[1]
    r = np.arange(size)
    mass = t.sum(axis=(1, 2)) + 1e-12                                   # N
    cy = (t.sum(axis=2) * r).sum(axis=1) / mass                         # N
    cx = (t.sum(axis=1) * r).sum(axis=1) / mass
    c = (size - 1) / 2.0
    return shift_matrices(c - cy, size), shift_matrices(c - cx, size)


def phash(gray, chunk=256):
    """gray: (H, W) or (N, H, W) -> uint64 (4,) or (N, 4): the 256-bit hash, bits in row-major
    order of the 16x16 coefficients, most significant bit first."""
    gray = np.asarray(gray, dtype=np.float64)
    single = gray.ndim == 2
    g = gray[None] if single else gray                                  # N,H,W
    a_h, a_w = area_matrix(g.shape[1], THUMB_SIZE), area_matrix(g.shape[2], THUMB_SIZE)
    d = dct_matrix(THUMB_SIZE)[:HASH_SIZE]                              # 16,64
    words = []
    for s in range(0, len(g), chunk):
        thumb = a_h @ g[s:s + chunk] @ a_w.T                            # n,64,64
        my, mx = centring_matrices(thumb)                               # n,64,64 each
        # DCT of the centred thumbnail, d @ (my @ thumb @ mx.T) @ d.T, multiplied small-first
        low = (d @ my) @ thumb @ (d @ mx).transpose(0, 2, 1)            # n,16,16
        low = low.reshape(len(thumb), -1)                               # n,256
        bits = low > np.median(low, axis=1, keepdims=True)
        words.append(np.packbits(bits, axis=1).view(">u8").astype(np.uint64))   # n,4
    out = np.concatenate(words) if words else np.zeros((0, 4), np.uint64)
    return out[0] if single else out


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(x):
    """Set bits of each uint64 in x (same shape, int64)."""
    if hasattr(np, "bitwise_count"):                                    # NumPy >= 2.0
        return np.bitwise_count(x).astype(np.int64)
    x = np.ascontiguousarray(x)
    return _POPCOUNT8[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.int64)


def hamming(a, b):
    """Bit differences between hashes (..., 4) uint64, broadcasting over the leading axes."""
    a, b = np.asarray(a, np.uint64), np.asarray(b, np.uint64)
    total = np.zeros(np.broadcast_shapes(a.shape[:-1], b.shape[:-1]), dtype=np.int64)
    for w in range(a.shape[-1]):                                        # one 64-bit word at a time
        total += popcount(np.bitwise_xor(a[..., w], b[..., w]))
    return total


def near_pairs(hashes, threshold=NEAR_THRESHOLD, chunk=512):
    """hashes (N, 4) -> all pairs (i, j), i < j, at Hamming distance <= threshold: int (P, 2)."""
    hashes = np.asarray(hashes, np.uint64)
    out = [np.zeros((0, 2), np.int64)]
    for s in range(0, len(hashes), chunk):
        dist = hamming(hashes[s:s + chunk, None], hashes[None, s:])     # chunk,N-s: j >= s only
        i, j = np.nonzero(dist <= threshold)
        i, j = i + s, j + s
        out.append(np.stack([i[i < j], j[i < j]], axis=1))
    return np.concatenate(out)


def mirror_pairs(hashes, mirrored, threshold=NEAR_THRESHOLD, chunk=512):
    """hashes (N, 4) and the hashes of the same images flipped left-right (N, 4) -> all pairs
    (i, j), i < j, where one image's mirror image is within threshold bits of the other: int (P, 2)."""
    hashes, mirrored = np.asarray(hashes, np.uint64), np.asarray(mirrored, np.uint64)
    out = [np.zeros((0, 2), np.int64)]
    for s in range(0, len(hashes), chunk):
        dist = hamming(mirrored[s:s + chunk, None], hashes[None])        # chunk,N: mirror of i vs j
        i, j = np.nonzero(dist <= threshold)
        i = i + s
        keep = i != j                                                    # a symmetric scan: itself
        out.append(np.sort(np.stack([i[keep], j[keep]], axis=1), axis=1))
    return np.unique(np.concatenate(out), axis=0)


def mirror_hashes(gray):
    """gray (N, H, W) -> the hashes of the images flipped left-right (N, 4)."""
    return phash(np.asarray(gray)[..., ::-1])


def has_near(query, reference, threshold=NEAR_THRESHOLD, chunk=512):
    """query (Q, 4), reference (R, 4) hashes -> bool (Q,): some reference within threshold."""
    query, reference = np.asarray(query, np.uint64), np.asarray(reference, np.uint64)
    out = np.zeros(len(query), dtype=bool)
    if len(reference):
        for s in range(0, len(query), chunk):
            out[s:s + chunk] = (hamming(query[s:s + chunk, None], reference[None]) <= threshold
                                ).any(axis=1)
    return out


def equal_pairs(keys):
    """Pairs chaining the items with equal keys (any hashable, e.g. digests) -> int (P, 2)."""
    first, pairs = {}, []
    for i, k in enumerate(keys):
        if k in first:
            pairs.append((first[k], i))
        else:
            first[k] = i
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def connected_groups(n, pairs):
    """Union-find over n items joined by pairs -> int64 (n,) group ids 0, 1, ... numbered by
    each group's first (lowest-index) member; an item with no pair is its own group."""
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]    # path halving
            i = parent[i]
        return i

    for i, j in pairs:
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([root(i) for i in range(n)], dtype=np.int64)
    _, ids = np.unique(roots, return_inverse=True)   # roots are the lowest members: order kept
    return ids.reshape(-1).astype(np.int64)


def pixel_digest(array):
    """"Same pixels" as a string: the SHA-256 of the array's shape and bytes (equal digests =
    equal shape and equal values). Used by the duplicate groups, the audit and the leak mask."""
    a = np.ascontiguousarray(array)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


def find_duplicate_groups(ds_or_images, threshold=NEAR_THRESHOLD, mirrors=True):
    """Dataset or uint8 images (N, C, H, W) -> int64 (N,) group ids.

    Images with identical pixels, or pHash distance <= threshold, or (``mirrors``) one the near
    mirror image of the other, share a group (transitively); pass the result as ``groups=`` to
    ``train_val_split`` so duplicates never straddle the split. ``mirrors=False`` is the rule
    splits were made with before mirror copies were found (see the module docstring).
    """
    images = getattr(ds_or_images, "images", ds_or_images)
    images = np.asarray(images)
    pairs = [equal_pairs([pixel_digest(im) for im in images])]
    if threshold is not None and threshold >= 0:
        gray = to_gray(images)
        hashes = phash(gray)
        pairs.append(near_pairs(hashes, threshold))
        if mirrors:
            pairs.append(mirror_pairs(hashes, mirror_hashes(gray), threshold))
    return connected_groups(len(images), np.concatenate(pairs))
