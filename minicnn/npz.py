"""Reading .npz files that may be damaged or hostile, one member at a time, sizes checked first.

    with NpzReader("runs/cnn5/best.npz") as f:
        f.names                                  # member names, without ".npy"
        shape, dtype = f.header("param/0.W")     # from the member's .npy header only
        w = f.read("param/0.W")                  # exactly the bytes the header announces

Why not ``np.load``: it gives NumPy's advice to pass ``allow_pickle=True`` for a file that is not
an array at all (a JPEG, random bytes), which is the one thing a user must never do; its errors
are half a dozen exception types (BadZipFile, EOFError, TypeError...); and a member is read
whole, so a deflated 4 GiB member of zeros inside a 4 MB file costs 4 GiB. Here every problem is
a ``ValueError`` naming the file; a member's shape and dtype are known (``header``) before any of
its data is read, so the caller can compare them with what it expects; ``read`` takes exactly
the announced number of bytes, and the zip CRC is checked, so a flipped byte is an error rather
than a changed weight. Object arrays (which need pickle) are refused.
"""
import math
import os
import zipfile
import zlib

import numpy as np

_NPY_MAGIC = b"\x93NUMPY"
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


class NpzReader:
    """An open .npz (zip of .npy) file; ``ValueError`` for anything that is not a sound one."""

    def __init__(self, path, what="a minicnn model file"):
        self.path, self.what = os.fspath(path), what
        with open(self.path, "rb") as f:                     # FileNotFoundError stays as it is
            head = f.read(len(_NPY_MAGIC))
        if not head:
            raise ValueError(f"{self.path}: not {what} (the file is empty)")
        if head.startswith(_NPY_MAGIC):
            raise ValueError(f"{self.path}: not {what} (it is a single NumPy array, an .npy file)")
        if not head.startswith(b"PK"):
            raise ValueError(f"{self.path}: not {what} (not an .npz archive)")
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except _DAMAGE as e:
            raise ValueError(f"{self.path}: damaged or truncated file ({e})") from None
        self._members = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy")}

    @property
    def names(self):
        return list(self._members)

    def _damaged(self, name, problem):
        return ValueError(f"{self.path}: damaged or truncated file ({name!r}: {problem})")

    def _parse(self, fp, name):
        """Read a member's .npy header -> (shape, fortran_order, dtype)."""
        try:
            version = np.lib.format.read_magic(fp)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, fortran, dtype = read(fp)
        except _DAMAGE as e:
            raise self._damaged(name, e) from None
        if dtype.hasobject:
            raise ValueError(f"{self.path}: {name!r} is an object array, which cannot be read "
                             f"without pickle (minicnn never unpickles)")
        return shape, fortran, dtype

    def _open(self, name):
        if name not in self._members:
            raise KeyError(name)
        return self._zip.open(self._members[name])

    def header(self, name):
        """(shape, dtype) of member ``name``, reading nothing but its header."""
        try:
            with self._open(name) as fp:
                shape, _, dtype = self._parse(fp, name)
        except _DAMAGE[:3] as e:
            raise self._damaged(name, e) from None
        return shape, dtype

    def read(self, name):
        """Member ``name`` as an array: exactly the bytes its header announces, CRC checked."""
        try:
            with self._open(name) as fp:
                shape, fortran, dtype = self._parse(fp, name)
                n = math.prod(shape) * dtype.itemsize      # Python ints: no overflow
                data = fp.read(n + 1)    # one byte more: reaching the end checks the zip CRC
        except _DAMAGE[:3] as e:
            raise self._damaged(name, e) from None
        if len(data) != n:
            raise self._damaged(name, f"{len(data)} bytes of data where the header says {n}")
        return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
