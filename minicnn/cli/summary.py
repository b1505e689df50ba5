"""``minicnn summary``: the layer table of one of the report's models.

    minicnn summary --model cnn5 --image-size 150
"""
from minicnn.data import COLORS
from minicnn.models import MODEL_NAMES


def register(subparsers):
    p = subparsers.add_parser("summary", help="layers, output shapes, parameters and FLOPs",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help="which architecture")
    p.add_argument("--image-size", type=int, default=64, metavar="N",
                   help="input height and width in pixels")
    p.add_argument("--color", choices=tuple(COLORS), default="grayscale",
                   help="input channels: grayscale (1) or rgb (3)")
    p.add_argument("--num-classes", type=int, default=4, metavar="K", help="output classes")
    p.set_defaults(func=run)


def run(args):
    from minicnn.models import build  # lazy: keeps `minicnn --help` quick
    channels = COLORS[args.color]
    model = build(args.model, input_shape=(channels, args.image_size, args.image_size),
                  num_classes=args.num_classes)
    model.summary()
    return 0
