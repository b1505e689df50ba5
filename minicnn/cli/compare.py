"""``minicnn compare``: a table and a bar chart of trained runs beside the report's numbers.

    minicnn compare runs/cnn5 runs/mini_vgg runs/mini_resnet --out runs/compare

Each RUN_DIR holds best.npz and history.json (as written by ``minicnn train``). Prints the
table (accuracy, parameters, FLOPs, training time, and the source of every number); with --out
it also writes it as compare.md, with the bar chart compare.png, into that folder.
"""
from minicnn.atomic import make_folder  # small, no heavy imports


def register(subparsers):
    p = subparsers.add_parser("compare", help="compare runs with each other and with the report",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders holding best.npz")
    p.add_argument("--out", metavar="DIR", help="also write compare.md and compare.png into "
                   "this folder (default: only print the table)")
    p.set_defaults(func=run)


def run(args):
    from minicnn.viz.compare import compare_runs, comparison_rows, markdown_table  # lazy: keeps `minicnn --help` quick
    if args.out is None:
        print(markdown_table(comparison_rows(args.runs)))
        return 0
    make_folder(args.out)             # one line if --out is a file, before any run is read
    md, png = compare_runs(args.runs, args.out)
    print(md.read_text(encoding="utf-8").split("\n\n![")[0])
    print(f"\nwrote {md} and {png}")
    return 0
