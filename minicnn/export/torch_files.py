"""``save_torch``: a model as two files that need PyTorch and nothing of minicnn.

    save_torch(model, "mini_resnet.pt")   # writes mini_resnet.pt and mini_resnet.py

- ``mini_resnet.pt``: the ``state_dict`` of ``to_torch(model)`` (``torch.save``; it holds only
  tensors, so ``torch.load(..., weights_only=True)`` reads it).
- ``mini_resnet.py``: the module code: ``torch_modules.py`` copied verbatim (``Residual``,
  ``GlobalAvgPool2d``, ``build``, ``standardize``), then the architecture (``SPEC``), the
  checkpoint's metadata (``METADATA``: classes, preprocessing, image size...) and ``load()``.

    import mini_resnet
    model = mini_resnet.load()                                          # eval mode
    probs = model(mini_resnet.standardize(uint8_images, mini_resnet.METADATA["preprocessing"])).softmax(1)

A state_dict plus source rather than TorchScript: the module stays an ordinary, trainable
``nn.Module`` whose code one can read (and PyTorch 2.13 deprecates ``torch.jit.script``).
"""
import io
import json
import os

import numpy as np

from minicnn.atomic import atomic_write, write_text
from minicnn.export.torch_bridge import to_torch
from minicnn.layers.base import layer_spec

_FOOTER = '''

# ---- the exported model (written by `minicnn export`) ----------------------------------------
import json as _json
import os as _os

SPEC = _json.loads({spec})
METADATA = _json.loads({metadata})
WEIGHTS = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), {weights})


def load(weights=WEIGHTS):
    """The exported model as an nn.Module in eval mode, holding the exported weights."""
    model = build(SPEC)
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()


if __name__ == "__main__":
    print(load())
'''


def _literal(obj):
    """A Python string literal holding ``obj`` as JSON (repr escapes every quote)."""
    return repr(json.dumps(obj, default=lambda o: np.asarray(o).tolist()))


def save_torch(model, path, metadata=None):
    """Write ``path`` (the state_dict) and the module code beside it (same name, ``.py``).

    Returns the two paths. Both files are written atomically.
    """
    import torch  # optional: pip install torch==2.13.0 (never loaded by import minicnn)
    from minicnn.export import torch_modules  # optional: it imports torch
    path = os.fspath(path)
    code_path = os.path.splitext(path)[0] + ".py"
    if path == code_path:
        raise ValueError(f"--out {path}: give the weights file a name such as model.pt; the module "
                         f"code goes beside it as model.py")
    name = os.path.basename(code_path)[:-3]
    if not name.isidentifier():
        raise ValueError(f"{code_path}: the module code needs a file name Python can import "
                         f"(letters, digits, _), got {name!r}")
    meta = dict(getattr(model, "metadata", None) or {}) if metadata is None else dict(metadata)
    meta.pop("history", None)
    buffer = io.BytesIO()
    torch.save(to_torch(model).state_dict(), buffer)
    with open(torch_modules.__file__, encoding="utf-8") as f:
        source = f.read()
    source += _FOOTER.format(spec=_literal(layer_spec(model)), metadata=_literal(meta),
                             weights=repr(os.path.basename(path)))
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    write_text(code_path, source)
    return path, code_path
