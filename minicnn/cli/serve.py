"""``minicnn serve``: a local web page that classifies an MRI and shows its Grad-CAM.

    minicnn serve                                   # the Mini-ResNet shipped in the package
    minicnn serve --checkpoint runs/cnn5/best.npz --port 8080

Open the printed address in a browser. The page and its JSON API are described in docs/serve.md.
"""
import sys

from minicnn.cli import CLIError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(subparsers):
    p = subparsers.add_parser("serve", help="local web page: classify an MRI, see Grad-CAM",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", metavar="FILE", default=None,
                   help="a .npz written by train (default: the packaged Mini-ResNet)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free port; default 8000)")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    p.set_defaults(func=run)


def run(args):
    from minicnn.serve import ModelService, make_server  # lazy: keeps `minicnn --help` quick
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be in 0..65535, got {args.port}")
    try:
        service = ModelService(args.checkpoint)        # fails here, before anything listens
    except ValueError as e:
        raise CLIError(str(e)) from None
    service.warm_up()                                  # load JIT caches before the first user
    try:
        server = make_server(service, args.host, args.port, quiet=args.quiet)
    except OSError as e:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    card = service.card
    print(f"minicnn serve: {server.url}  ({card['name']}, {card['params']:,} params, "
          f"{len(card['classes'])} classes; Ctrl-C to stop)", flush=True)
    if args.host not in LOCAL_HOSTS:
        print(f"minicnn serve: warning: bound to {args.host}, so other computers can reach it",
              file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("minicnn serve: stopped", flush=True)
    finally:
        server.server_close()
    return 0
