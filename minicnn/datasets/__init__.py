"""Package data: the bundled 64x64 brain-MRI dataset (brain_mri_64.npz) and its build script.

Load it with ``minicnn.data.load_bundled()``; rebuild it with
``python -m minicnn.datasets.build_bundled --source brain-tumor-mri/Training``.
"""
