"""Scout training recipes in PyTorch (a fast proxy) before running them in minicnn.

Loads the Kaggle Training folder as grayscale SIZExSIZE uint8, splits it 8:2 train/val
(stratified, seed 0, byte-identical duplicate files kept on the same side), standardises with
the training split's mean/std, and trains one of the PyTorch mirrors (torch_models.py) with
Adam, reporting validation accuracy after every epoch. One JSON line per run is appended to
--log, so that results can be tabulated (``--table``).

    python benchmarks/scout_recipes_torch.py --model mini_resnet --epochs 20 --lr 3e-3 \
        --schedule cosine --aug flip_shift
    python benchmarks/scout_recipes_torch.py --table        # markdown table of the log

Uses minicnn.data (load_folder, train_val_split, Standardizer) when it is implemented,
otherwise an equivalent small Pillow loader.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

DATA = "/work/shared/data/brain-tumor-mri/Training"
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("SCOUT_CACHE", "/tmp/minicnn_scout_cache"))
LOG = CACHE / "scouting_runs.jsonl"     # outside the repository


# ---- data -------------------------------------------------------------------------------
def _load_pillow(root, size):
    """(images uint8 (N,1,size,size), labels int64 (N,), classes, md5 per file)."""
    from PIL import Image
    classes = sorted(d.name for d in Path(root).iterdir() if d.is_dir())
    images, labels, digests = [], [], []
    for k, cls in enumerate(classes):
        for path in sorted((Path(root) / cls).iterdir()):
            data = path.read_bytes()
            with Image.open(path) as im:
                im = im.convert("L").resize((size, size), Image.BILINEAR)
                images.append(np.asarray(im, dtype=np.uint8)[None])   # 1,H,W
            labels.append(k)
            digests.append(hashlib.md5(data).hexdigest())
    return np.stack(images), np.array(labels, np.int64), classes, digests


def _split(labels, digests, val_fraction=0.2, seed=0):
    """Stratified split by class over groups of byte-identical files. Returns (train_idx, val_idx)."""
    rng = np.random.default_rng(seed)
    groups = {}
    for i, d in enumerate(digests):
        groups.setdefault(d, []).append(i)
    val = []
    for k in np.unique(labels):
        # a group belongs to the class of its first file (copies across classes stay together)
        cls_groups = [g for g in groups.values() if labels[g[0]] == k]
        target = round(val_fraction * sum(len(g) for g in cls_groups))
        taken = 0
        for j in rng.permutation(len(cls_groups)):
            if taken >= target:
                break
            val += cls_groups[j]
            taken += len(cls_groups[j])
    val = np.sort(np.array(val))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def load_split(size, loader="auto"):
    """(x_train uint8, y_train, x_val uint8, y_val, classes, source) for the Training folder.

    loader: "minicnn" (minicnn.data), "pillow" (the loader above), "auto" (minicnn if present).
    """
    if loader == "pillow":
        return _load_split_pillow(size)
    try:
        from minicnn.data import load_folder, train_val_split   # issue 3 (helper H4)
        ds = load_folder(DATA, image_size=size, color="grayscale")
        try:
            from minicnn.data import find_duplicate_groups
            tr, va = train_val_split(ds, 0.2, seed=0, groups=find_duplicate_groups(ds.paths))
        except ImportError:
            tr, va = train_val_split(ds, 0.2, seed=0)
        return tr.images, tr.labels, va.images, va.labels, ds.classes, "minicnn.data"
    except ImportError:
        if loader == "minicnn":
            raise
    return _load_split_pillow(size)


def _load_split_pillow(size):
    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / f"train_{size}.npz"
    if f.exists():
        z = np.load(f, allow_pickle=False)
        x, y, classes, digests = z["x"], z["y"], list(z["classes"]), list(z["digests"])
    else:
        x, y, classes, digests = _load_pillow(DATA, size)
        np.savez(f, x=x, y=y, classes=np.array(classes), digests=np.array(digests))
    tr, va = _split(y, digests)
    return x[tr], y[tr], x[va], y[va], classes, "pillow"


# ---- training ---------------------------------------------------------------------------
def augment(torch, xb, gen, flip, max_shift, max_rotate):
    """Random horizontal flip, shift (fraction of size) and rotation (degrees), zero fill."""
    n = xb.shape[0]
    ang = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(max_rotate)
    sx = -1.0 + 2.0 * (torch.rand(n, generator=gen) < 0.5).float() if flip else torch.ones(n)
    t = (torch.rand(n, 2, generator=gen) * 2 - 1) * 2 * max_shift     # grid coords span 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(ang) * sx
    theta[:, 0, 1] = -torch.sin(ang)
    theta[:, 1, 0] = torch.sin(ang) * sx
    theta[:, 1, 1] = torch.cos(ang)
    theta[:, :, 2] = t
    grid = torch.nn.functional.affine_grid(theta, list(xb.shape), align_corners=False)
    return torch.nn.functional.grid_sample(xb, grid, align_corners=False, padding_mode="zeros")


AUGS = {"none": (False, 0.0, 0.0), "flip": (True, 0.0, 0.0), "flip_shift": (True, 0.1, 0.0),
        "full": (True, 0.1, 10.0)}


def run(args):
    import torch
    sys.path.insert(0, str(HERE))
    import torch_models
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_load = time.perf_counter()
    xtr, ytr, xva, yva, classes, source = load_split(args.size, args.loader)
    mean, std = float(xtr.mean()), float(xtr.std())
    xtr = torch.from_numpy((xtr.astype(np.float32) - mean) / std)
    xva = torch.from_numpy((xva.astype(np.float32) - mean) / std)
    ytr, yva = torch.from_numpy(ytr), torch.from_numpy(yva)
    print(f"data from {source}: train {tuple(xtr.shape)} val {tuple(xva.shape)} "
          f"({time.perf_counter() - t_load:.1f}s)", flush=True)

    model = torch_models.build(args.model, (1, args.size, args.size), len(classes), args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.wd)
    gen = torch.Generator().manual_seed(args.seed)
    val_acc, t0 = [], time.perf_counter()
    for epoch in range(args.epochs):
        lr = args.lr
        if args.schedule == "cosine":
            lr = args.lr * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs))
        if epoch < args.warmup:
            lr = args.lr * (epoch + 1) / (args.warmup + 1)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        tot, correct = 0.0, 0
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb, yb = xtr[idx], ytr[idx]
            if args.aug != "none":
                xb = augment(torch, xb, gen, *AUGS[args.aug])
            out = model(xb)
            loss = torch.nn.functional.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xva[i:i + 256]).argmax(1) for i in range(0, len(yva), 256)])
        val_acc.append((pred == yva).float().mean().item())
        print(f"epoch {epoch + 1:2d} lr {lr:.2e} loss {tot / len(ytr):.4f} "
              f"acc {correct / len(ytr):.4f} val {val_acc[-1]:.4f} "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)
    best = int(np.argmax(val_acc))
    rec = dict(model=args.model, size=args.size, epochs=args.epochs, lr=args.lr,
               schedule=args.schedule, warmup=args.warmup, aug=args.aug, wd=args.wd,
               batch_size=args.batch_size, seed=args.seed, best_val=round(val_acc[best], 4),
               best_epoch=best + 1, last_val=round(val_acc[-1], 4),
               val_acc=[round(v, 4) for v in val_acc], torch_time_s=round(time.perf_counter() - t0, 1),
               threads=args.threads, data=source, n_train=len(ytr), n_val=len(yva))
    with open(args.log, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec))


def table(log):
    print("| model | size | recipe | epochs | best val acc | epoch at best | last val acc | torch time (1 thread) |")
    print("|---|---|---|---|---|---|---|---|")
    for line in open(log):
        r = json.loads(line)
        recipe = (f"Adam lr {r['lr']:g}, {r['schedule']}" + (f" (warmup {r['warmup']})" if r['warmup'] else "")
                  + f", aug {r['aug']}, wd {r['wd']:g}, bs {r['batch_size']}, seed {r['seed']}")
        print(f"| {r['model']} | {r['size']} | {recipe} | {r['epochs']} | {100 * r['best_val']:.2f}% "
              f"| {r['best_epoch']} | {100 * r['last_val']:.2f}% | {r['torch_time_s'] / 60:.1f} min |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mini_resnet", choices=["mini_resnet", "cnn5", "mini_vgg"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    p.add_argument("--warmup", type=int, default=0, help="linear warm-up epochs")
    p.add_argument("--aug", default="none", choices=sorted(AUGS))
    p.add_argument("--wd", type=float, default=0.0, help="Adam (L2) weight decay")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--loader", default="auto", choices=["auto", "minicnn", "pillow"],
                   help="image loader/splitter: minicnn.data, the Pillow fallback, or auto")
    p.add_argument("--log", default=str(LOG))
    p.add_argument("--table", action="store_true", help="print the log as a markdown table")
    args = p.parse_args(argv)
    if args.table:
        table(args.log)
    else:
        CACHE.mkdir(parents=True, exist_ok=True)
        run(args)


if __name__ == "__main__":
    main()
