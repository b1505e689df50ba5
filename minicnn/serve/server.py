"""The HTTP side of ``minicnn serve``: Python's ``http.server``, no framework.

    server = make_server(ModelService(), port=0)      # port 0: the OS picks a free port
    print(server.url)                                 # http://127.0.0.1:41234/
    server.serve_forever()

Routes (every answer of /api/* is JSON; every error is ``{"error": "...", "status": N}``):

    GET  /                      the page (static/index.html), /app.css, /app.js
    GET  /api/model             the model card (minicnn.serve.card)
    GET  /api/samples           one bundled scan per class, PNG in base64
    POST /api/predict           body = the image file's bytes -> class, probabilities, Grad-CAM

Refusals: 404 unknown path, 405 a known path with the wrong method (with ``Allow``), 411 a POST
without Content-Length, 413 a body over ``MAX_UPLOAD_BYTES`` (decided from Content-Length,
before reading) or an image over ``MAX_PIXELS``, 400 an empty, unidentifiable, truncated or
corrupt image. The body is read into memory and decoded from there: nothing is written to disk.
"""
import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from minicnn.serve.service import MAX_UPLOAD_BYTES, RequestError

STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/index.html": ("index.html", "text/html; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8")}
API_GET = ("/api/model", "/api/samples")
API_POST = ("/api/predict",)
DRAIN_LIMIT = 4 * MAX_UPLOAD_BYTES     # an oversized body up to this is read and dropped, so the
                                       # client can read the 413; past it the connection is cut
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def load_static():
    """{url path: (bytes, content type)} for the page's files, read once from the package."""
    folder = resources.files("minicnn.serve").joinpath("static")
    return {path: (folder.joinpath(name).read_bytes(), ctype)
            for path, (name, ctype) in STATIC.items()}


class Handler(BaseHTTPRequestHandler):
    """One request. ``self.server`` is a ``Server``: it holds the service and the static files."""

    server_version = "minicnn-serve"
    timeout = 30                         # seconds a client may stall before its thread gives up

    # --- answers -------------------------------------------------------------------------
    def _send(self, status, body, ctype, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in list(SECURITY_HEADERS.items()) + list(headers):
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self._send(status, body, "application/json", headers)

    def send_json_error(self, status, message, headers=()):
        self.send_json(status, {"error": message, "status": status}, headers)

    def _route(self, path, method):
        """404 for an unknown path, 405 + Allow for a known one with the wrong method."""
        allowed = ("GET, HEAD" if path in STATIC or path in API_GET else
                   "POST" if path in API_POST else None)
        if allowed is None:
            self.send_json_error(404, f"no such page: {path} (the API is {', '.join(API_GET)} "
                                      f"and POST {API_POST[0]})")
        else:
            self.send_json_error(405, f"{method} is not allowed on {path}; use {allowed}",
                                 [("Allow", allowed)])

    # --- methods -------------------------------------------------------------------------
    def do_GET(self):
        path = urlsplit(self.path).path
        if path in STATIC:
            body, ctype = self.server.static[path]
            self._send(200, body, ctype)
        elif path == "/api/model":
            self.send_json(200, self.server.service.card)
        elif path == "/api/samples":
            self.send_json(200, {"samples": self.server.service.samples})
        else:
            self._route(path, "GET")

    do_HEAD = do_GET

    def do_POST(self):
        path = urlsplit(self.path).path
        if path not in API_POST:
            return self._route(path, "POST")
        length = self.headers.get("Content-Length")
        if length is None:
            return self.send_json_error(411, "POST /api/predict needs a Content-Length header "
                                             "(send the image file's bytes as the body)")
        try:
            length = int(length)
            if length < 0:
                raise ValueError
        except ValueError:
            return self.send_json_error(400, f"bad Content-Length: {length!r}")
        if length > MAX_UPLOAD_BYTES:
            self._drain(length)
            return self.send_json_error(413, f"upload too large: {length:,} bytes; the limit is "
                                             f"{MAX_UPLOAD_BYTES:,} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            return self.send_json_error(400, f"the body ended after {len(body):,} of the "
                                             f"{length:,} bytes Content-Length announced")
        try:
            self.send_json(200, self.server.service.predict(body))
        except RequestError as e:
            self.send_json_error(e.status, str(e))
        except Exception as e:  # a bug, not the client's fault: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send_json_error(500, f"internal error: {type(e).__name__}: {e}")

    def _drain(self, length):
        """Read and drop a refused body (bounded), so the client sees the answer, not a reset."""
        self.close_connection = True
        if length > DRAIN_LIMIT:
            return
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:
            pass

    def _not_allowed(self):
        self._route(urlsplit(self.path).path, self.command)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that carries the ModelService and the page's files."""

    daemon_threads = True
    request_queue_size = 128   # listen backlog; socketserver's 5 made 7 of 60 simultaneous
                               # connections fail with "connection reset" on the loaded machine

    def __init__(self, address, service, quiet=False):
        self.service, self.quiet, self.static = service, quiet, load_static()
        super().__init__(address, Handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


def make_server(service, host="127.0.0.1", port=8000, quiet=False):
    """Bind (port 0 = any free port) and return the Server; call ``serve_forever()`` on it."""
    return Server((host, int(port)), service, quiet=quiet)
