"""``minicnn export``: a checkpoint as an ONNX file, or as PyTorch weights plus module code.

    minicnn export --checkpoint runs/mini_resnet/best.npz --format onnx --out mini_resnet.onnx
    minicnn export --checkpoint runs/mini_resnet/best.npz --format torch --out mini_resnet.pt

ONNX: by default the file takes uint8 pixels (N, C, H, W) as the loader decodes them, applies
the checkpoint's standardisation and returns class probabilities; ``--no-preprocessing`` makes
it take standardised float32 input, ``--logits`` drops the softmax. Class names and the training
metadata are in the file's metadata_props. Torch: ``OUT`` holds the state_dict and ``OUT`` with
``.py`` the module code (``load()`` returns the nn.Module); neither needs minicnn.
See docs/scale-out.md.
"""
import os

from minicnn.atomic import make_folder  # small, no heavy imports
from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("export", help="write a checkpoint as ONNX or PyTorch",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="a .npz written by train")
    p.add_argument("--format", required=True, choices=("onnx", "torch"),
                   help="onnx: one .onnx file for any ONNX runtime; torch: state_dict + module code")
    p.add_argument("--out", required=True, metavar="FILE", help="model.onnx, or model.pt (+ model.py)")
    p.add_argument("--no-preprocessing", action="store_true",
                   help="onnx: take standardised float32 input instead of uint8 pixels")
    p.add_argument("--logits", action="store_true", help="onnx: output logits, not probabilities")
    p.add_argument("--opset", type=int, metavar="N", help="onnx: opset (default 13, IR version 7)")
    p.set_defaults(func=run)


def run(args):
    from minicnn.training import load_checkpoint  # lazy: keeps `minicnn --help` instant
    model = load_checkpoint(args.checkpoint)
    make_folder(os.path.dirname(os.path.abspath(args.out)))
    if args.format == "torch":
        if args.no_preprocessing or args.logits or args.opset is not None:
            raise CLIError("--no-preprocessing, --logits and --opset apply to --format onnx only")
        from minicnn.export import save_torch  # lazy, as above
        weights, code = save_torch(model, args.out)
        print(f"wrote {weights} (state_dict) and {code} (module code: load() gives the nn.Module)")
        return 0
    from minicnn.export import DEFAULT_OPSET, to_onnx  # lazy, as above
    fold = not args.no_preprocessing and bool(model.metadata.get("preprocessing"))
    proto = to_onnx(model, args.out, preprocessing=fold, softmax=not args.logits,
                    opset=DEFAULT_OPSET if args.opset is None else args.opset)
    graph = proto.graph
    print(f"wrote {args.out}: {graph.input[0].name} -> {graph.output[0].name}, opset "
          f"{proto.opset_import[0].version}, IR version {proto.ir_version}"
          + ("" if fold or args.no_preprocessing else
             " (the checkpoint stores no preprocessing: the input is float32)"))
    return 0
