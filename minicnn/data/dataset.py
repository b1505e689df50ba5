"""The ``Dataset`` every loader returns: uint8 images, int labels, class names, file names.

    ds.images  uint8 (N, C, H, W)   C = 1 for "grayscale", 3 for "rgb"; H = W = ds.image_size
    ds.labels  int64 (N,)           index into ds.classes
    ds.classes list[str]            sorted class-folder names
    ds.paths   list[str] or None    one file name per image (absolute, or relative for the bundle)
    ds.crop    bool                 whether each picture was cut to the head before resizing

Images stay uint8 until a ``Standardizer`` turns a batch into float32: 5,708 images at 64x64 take
23 MB as uint8 and four times that as float32.
"""
import numpy as np

from minicnn.losses import check_labels

#: The colour modes images load in: name -> channels. The one list of colour names.
COLORS = {"grayscale": 1, "rgb": 3}


def check_color(color):
    """The channel count of colour mode ``color``; ValueError for anything but a COLORS name."""
    if color not in COLORS:
        raise ValueError(f"color: expected one of {', '.join(map(repr, COLORS))}, got {color!r}")
    return COLORS[color]


def check_nchw(shape, what="images"):
    """Refuse a 4-d ``shape`` that looks channels-last, (N, H, W, C): axis 1 is not a channel
    count of COLORS but the last axis is. minicnn's images are channels-first, (N, C, H, W)."""
    counts = set(COLORS.values())
    if len(shape) == 4 and shape[1] not in counts and shape[3] in counts:
        raise ValueError(f"{what}: expected (N, C, H, W), channels first, got shape "
                         f"{tuple(shape)}, which looks channels-last (N, H, W, C): use "
                         f"x.transpose(0, 3, 1, 2)")


def check_dataset(ds, owner):
    """Refuse anything but a Dataset in ``owner`` (a function's name), saying how to make one."""
    if not isinstance(ds, Dataset):
        raise TypeError(f"{owner} takes a Dataset, got {type(ds).__name__}: wrap arrays as "
                        f"Dataset(images, labels, classes) (classes: one name per label index), "
                        f"or split the labels alone with split_indices(labels, ...)")


class Dataset:
    """A labelled image set held in memory. ``ds.subset(idx)`` selects images by index."""

    def __init__(self, images, labels, classes, paths=None, image_size=None, color="grayscale",
                 crop=False):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images: expected uint8 (N, C, H, W), got {images.dtype} "
                             f"{images.shape}")
        check_nchw(images.shape)
        labels = check_labels(labels, len(classes))
        if labels.shape != (len(images),):
            raise ValueError(f"labels: expected shape ({len(images)},), got {labels.shape}")
        channels = check_color(color)
        if images.shape[1] != channels:
            raise ValueError(f"color {color!r} expects {channels} channel(s), "
                             f"got images of shape {images.shape}")
        if paths is not None and len(paths) != len(images):
            raise ValueError(f"paths: expected {len(images)} names, got {len(paths)}")
        self.images = images
        self.labels = labels
        self.classes = [str(c) for c in classes]
        self.paths = None if paths is None else [str(p) for p in paths]
        self.image_size = int(images.shape[2] if image_size is None else image_size)
        self.color = color
        self.crop = bool(crop)

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        counts = ", ".join(f"{c}={n}" for c, n in zip(self.classes, self.class_counts()))
        cut = ", cropped to the head" if self.crop else ""
        return (f"Dataset({len(self)} images, {self.color} {self.image_size}x{self.image_size}"
                f"{cut}, {counts})")

    def class_counts(self):
        """Images per class, in ``classes`` order: int64 (K,)."""
        return np.bincount(self.labels, minlength=len(self.classes))

    def subset(self, idx):
        """A new Dataset holding ``images[idx]`` (idx: int array or boolean mask)."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        paths = None if self.paths is None else [self.paths[i] for i in idx]
        return Dataset(self.images[idx], self.labels[idx], self.classes, paths,
                       self.image_size, self.color, self.crop)


def align_classes(ds, classes):
    """Relabel ``ds`` to the class order ``classes`` (e.g. a checkpoint's); ValueError if ``ds``
    has a class that ``classes`` lacks."""
    unknown = [c for c in ds.classes if c not in classes]
    if unknown:
        raise ValueError(f"the data has class(es) {', '.join(unknown)} that the checkpoint does not "
                         f"know (it was trained on {', '.join(classes)})")
    remap = [classes.index(c) for c in ds.classes]
    return Dataset(ds.images, [remap[k] for k in ds.labels], classes, ds.paths, ds.image_size,
                   ds.color, ds.crop)
