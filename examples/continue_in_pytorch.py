"""Continue training a minicnn checkpoint in PyTorch, on several processes, then come back.

    torchrun --nproc_per_node=2 examples/continue_in_pytorch.py \\
        --checkpoint docs/checkpoints/mini_resnet/best.npz --epochs 2 --out runs/mini_resnet_torch/best.npz

1. Every process (a "rank") loads the minicnn checkpoint, rebuilds the training and validation
   splits it was trained on (from its metadata), standardises them with its saved statistics,
   and converts the model with ``minicnn.export.to_torch``.
2. The module is wrapped in ``DistributedDataParallel``: each rank reads its own shard of the
   training split (``DistributedSampler``), computes gradients on it, and DDP averages the
   gradients across ranks in every ``backward``, so all copies take the same Adam step.
3. Validation in PyTorch: rank 0's BatchNorm statistics are sent to every rank (each rank
   updated its own from its own batches), each rank scores a slice of the validation split and
   the counts are summed (``all_reduce``).
4. Rank 0 brings the model back (``minicnn.export.from_torch``), writes a minicnn checkpoint
   (``minicnn evaluate``/``report``/``predict`` read it) and evaluates it with minicnn: the two
   accuracies must agree.

The backend is gloo on CPU and nccl when CUDA is there (one GPU per rank); nothing else changes.
Across machines, torchrun's rendezvous options start the same script: see docs/scale-out.md.
"""
import minicnn  # noqa: F401  (first: sets the thread defaults before NumPy/Numba load)

import argparse
import gc
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from minicnn.data import Standardizer, load_bundled, load_folder, recorded_split
from minicnn.export import from_torch, to_torch
from minicnn.training import evaluate, load_checkpoint, save_checkpoint


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a minicnn checkpoint written by fit/train")
    p.add_argument("--out", required=True, help="where to write the minicnn checkpoint afterwards")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32, help="per rank (the global batch is "
                   "this times the number of ranks)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam's learning rate")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (a quick try-out)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return p.parse_args()


def load_splits(meta):
    """The training and validation splits the checkpoint was made with (uint8 Datasets)."""
    info = meta.get("split") or {}
    source = info.get("data", "bundled")
    ds = (load_bundled() if source == "bundled"
          else load_folder(source, image_size=meta["image_size"], color=meta["color"],
                           crop=meta.get("crop", False)))
    if list(ds.classes) != list(meta["classes"]):
        sys.exit(f"the data has classes {ds.classes}, the checkpoint {meta['classes']}")
    train, val, _ = recorded_split(ds, info)
    return train, val


def tensors(ds, standardizer):
    """(float32 images standardised exactly as minicnn does, int64 labels) as torch tensors."""
    return (torch.from_numpy(standardizer.transform(ds.images)),
            torch.from_numpy(np.asarray(ds.labels, dtype=np.int64)))


def torch_accuracy(module, x, y, rank, world, device):
    """Accuracy of ``module`` on (x, y): each rank scores every world-th image, counts summed."""
    for buffer in module.buffers():                # BatchNorm statistics: rank 0's everywhere
        dist.broadcast(buffer, src=0)
    module.eval()
    with torch.no_grad():
        mine = torch.arange(rank, len(x), world)
        correct = sum(int((module(x[i].to(device)).argmax(1).cpu() == y[i]).sum())
                      for i in mine.split(256))
    counts = torch.tensor([correct, len(mine)], dtype=torch.int64, device=device)
    dist.all_reduce(counts)                        # sum over ranks
    return counts[0].item() / counts[1].item()


def main():
    args = parse_args()
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")     # torchrun sets RANK, WORLD_SIZE, ...
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    torch.manual_seed(args.seed)

    model = load_checkpoint(args.checkpoint)
    meta = model.metadata
    if not meta.get("preprocessing") or "classes" not in meta:
        sys.exit(f"{args.checkpoint}: needs classes and preprocessing in its metadata "
                 f"(a checkpoint written by minicnn train / fit)")
    train, val = load_splits(meta)
    standardizer = Standardizer.from_dict(meta["preprocessing"])
    x_train, y_train = tensors(train, standardizer)
    x_val, y_val = tensors(val, standardizer)

    module = to_torch(model).float().to(device)
    ddp = DistributedDataParallel(module, device_ids=[local_rank] if cuda else None)
    sampler = DistributedSampler(TensorDataset(x_train, y_train), num_replicas=world, rank=rank,
                                 shuffle=True, seed=args.seed)       # this rank's shard
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, sampler=sampler)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    smoothing = (meta.get("training") or {}).get("label_smoothing") or 0.0   # as it trained
    mixup = (meta.get("training") or {}).get("mixup")                        # (None: no mixup)
    mix_rng = np.random.default_rng([args.seed, rank])
    steps, seen, t0 = 0, 0, time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)                   # a new shuffle of the shards every epoch
        ddp.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            if mixup:                              # as minicnn.data.mixup.mix_batch
                lam = float(mix_rng.beta(mixup, mixup))
                lam, perm = max(lam, 1 - lam), torch.randperm(len(xb), device=device)
                out = ddp(lam * xb + (1 - lam) * xb[perm])
                loss = (lam * F.cross_entropy(out, yb, label_smoothing=smoothing)
                        + (1 - lam) * F.cross_entropy(out, yb[perm], label_smoothing=smoothing))
            else:
                loss = F.cross_entropy(ddp(xb), yb, label_smoothing=smoothing)
            optimizer.zero_grad()
            loss.backward()                        # DDP averages the gradients of all ranks here
            optimizer.step()
            steps, seen = steps + 1, seen + len(yb)
            if args.max_steps and steps >= args.max_steps:
                break
        if rank == 0 and not args.json:
            print(f"epoch {epoch + 1}/{args.epochs}: last loss {loss.item():.4f}, {steps} steps, "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        if args.max_steps and steps >= args.max_steps:
            break
    elapsed = time.perf_counter() - t0
    torch_acc = torch_accuracy(module, x_val, y_val, rank, world, device)
    module = module.cpu()
    seen_per_rank, times = [None] * world, [None] * world
    dist.all_gather_object(seen_per_rank, seen)
    dist.all_gather_object(times, elapsed)

    if rank == 0:                                  # back to minicnn: one checkpoint, one writer
        info = {"world_size": world, "backend": dist.get_backend(), "steps": steps,
                "epochs": args.epochs, "batch_size_per_rank": args.batch_size, "lr": args.lr,
                "from_checkpoint": args.checkpoint, "val_accuracy_pytorch": torch_acc}
        back = from_torch(module, metadata={k: v for k, v in meta.items() if k != "history"})
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        result = evaluate(back, val)                # minicnn's own forward pass
        back.metadata.update(continued_in_pytorch=info, val_accuracy=result["accuracy"])
        save_checkpoint(back, args.out, back.metadata)
        summary = {"val_accuracy_pytorch": torch_acc, "val_accuracy_minicnn": result["accuracy"],
                   "n_val": result["n"], "steps": steps, "world_size": world,
                   "train_images_per_rank": seen_per_rank, "checkpoint": args.out,
                   "train_images_per_s": sum(seen_per_rank) / max(times)}
        if args.json:
            print(json.dumps(summary), flush=True)
        else:
            print(f"trained on {sum(seen_per_rank)} images in {max(times):.1f} s "
                  f"({summary['train_images_per_s']:.0f} images/s over {world} ranks)")
            print(f"validation accuracy: PyTorch {torch_acc:.4f}, minicnn {result['accuracy']:.4f} "
                  f"({result['n']} images); wrote {args.out}")
    dist.barrier()
    # DDP sits in a reference cycle and holds the process group, so without this the group would
    # be freed by whichever garbage collection comes next, maybe during interpreter shutdown,
    # where gloo's threads die with "terminate called without an active exception" (SIGABRT).
    del ddp, optimizer
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
