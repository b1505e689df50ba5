"""``minicnn serve``: a local web page that classifies a brain MRI and shows where the model looked.

    from minicnn.serve import ModelService, make_server
    server = make_server(ModelService(), host="127.0.0.1", port=8000)
    print(server.url); server.serve_forever()

``service`` holds the model (the packaged Mini-ResNet by default) and runs the library's own
predict and Grad-CAM under a lock; ``server`` is the standard library's ThreadingHTTPServer with a
small JSON API; ``card`` builds the model card and the sample scans; ``static/`` is the page
(HTML, CSS and JavaScript, no CDN, no network). See docs/serve.md.
"""
from minicnn.serve.server import make_server
from minicnn.serve.service import (MAX_PIXELS, MAX_UPLOAD_BYTES, ModelService, RequestError,
                                   default_checkpoint)

__all__ = ["ModelService", "make_server", "RequestError", "default_checkpoint", "MAX_UPLOAD_BYTES",
           "MAX_PIXELS"]
