"""Scratch memory for the convolution kernels, allocated once and reused every step.

    ws = shared_workspace()                   # this thread's Workspace
    col = ws.get("col", (M, K), np.float32)   # a view of one flat buffer, grown on demand
    release_workspace()                       # give every thread's buffers back (bytes freed)

Memory is bounded by the largest layer: each name keeps one flat buffer, as large as the largest
request so far. ``minicnn.runtime_info()`` reports the total, ``minicnn.release_workspace()``
frees it.
"""
import threading
import weakref

import numpy as np


class Workspace:
    """Named scratch buffers, grown on demand and reused: ``ws.get("col", (M, K), np.float32)``.

    The returned arrays are views of one flat buffer per name, so a later ``get`` of the same
    name overwrites them. ``ws.worker(w)`` is worker thread w's own Workspace.
    """

    def __init__(self):
        self._flat, self._workers = {}, []

    def get(self, name, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        buf = self._flat.get(name)
        if buf is None or buf.nbytes < nbytes:
            buf = self._flat[name] = np.empty(max(nbytes, 64), dtype=np.uint8)
        return buf[:nbytes].view(dtype).reshape(shape)

    def worker(self, w):
        while len(self._workers) <= w:
            self._workers.append(Workspace())
        return self._workers[w]

    def nbytes(self):
        return sum(b.nbytes for b in self._flat.values()) + sum(s.nbytes() for s in self._workers)

    def release(self):
        """Drop every buffer (arrays still in use keep theirs alive); the next ``get`` allocates."""
        self._flat, self._workers = {}, []


_local = threading.local()
_workspaces = weakref.WeakSet()   # every thread's shared Workspace (gone when its thread is)


def shared_workspace():
    """The Workspace that conv_forward / conv_backward use when given none (one per thread)."""
    if not hasattr(_local, "ws"):
        _local.ws = Workspace()
        _workspaces.add(_local.ws)
    return _local.ws


def workspace_nbytes():
    """Bytes held between calls by the shared Workspaces of all threads."""
    return sum(ws.nbytes() for ws in list(_workspaces))


def release_workspace():
    """Free the shared Workspaces of all threads; returns the bytes released.

    The next convolution allocates again (the first step after this is a little slower). Call it
    between steps, not while another thread is inside a convolution.
    """
    freed = workspace_nbytes()
    for ws in list(_workspaces):
        ws.release()
    return freed
