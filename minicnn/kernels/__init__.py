"""Convolution and pooling kernels: a NumPy reference (for reading) and a Numba fast path (for running)."""
