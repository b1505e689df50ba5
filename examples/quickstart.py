"""minicnn in one page: build a CNN, train it, save it, load it back.

Run:  python examples/quickstart.py        (a few seconds on a laptop CPU)

The task is generated on the spot: 16x16 grayscale images of noise with one bright blob;
the label is the quadrant the blob is in (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right).
"""
import os
import tempfile

import numpy as np

import minicnn as mc


def make_blobs(n, rng, size=16):
    """n images (n, 1, size, size) float32 and their quadrant labels (n,)."""
    yy, xx = np.mgrid[:size, :size]
    labels = rng.integers(0, 4, size=n)
    half = size // 2
    cy = rng.uniform(2, half - 2, size=n) + half * (labels // 2)   # row: bottom half for 2, 3
    cx = rng.uniform(2, half - 2, size=n) + half * (labels % 2)    # column: right half for 1, 3
    blobs = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / 4.0)
    images = 2.0 * blobs + 0.5 * rng.standard_normal((n, size, size))
    return images[:, None].astype(np.float32), labels   # (n, 1, 16, 16)


rng = np.random.default_rng(0)
x_train, y_train = make_blobs(512, rng)
x_val, y_val = make_blobs(256, rng)

model = mc.Sequential([
    mc.Conv2D(1, 8, kernel_size=3, padding=1, rng=1), mc.BatchNorm2D(8), mc.ReLU(),
    mc.MaxPool2D(2),                                                   # (8, 8, 8)
    mc.Conv2D(8, 16, kernel_size=3, padding=1, rng=2), mc.BatchNorm2D(16), mc.ReLU(),
    mc.MaxPool2D(2),                                                   # (16, 4, 4)
    mc.Flatten(), mc.Dense(16 * 4 * 4, 4, rng=3),                      # 4 class scores
], input_shape=(1, 16, 16))
model.summary()

optimizer = mc.Adam(model, lr=3e-3)
batch_size = 32
for epoch in range(1, 4):
    order = rng.permutation(len(x_train))
    losses = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        logits = model.forward(x_train[idx], training=True)            # (32, 4)
        loss, dlogits = mc.softmax_cross_entropy(logits, y_train[idx])
        model.backward(dlogits)                                        # fills model.grads
        optimizer.step()                                               # updates model.params
        losses.append(loss)
    val_acc = np.mean(model.forward(x_val).argmax(axis=1) == y_val)    # inference mode
    print(f"epoch {epoch}: train loss {np.mean(losses):.3f}   val accuracy {val_acc:.2f}")

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "quadrants.npz")
    model.save(path, metadata={"classes": ["top-left", "top-right", "bottom-left", "bottom-right"]})
    loaded = mc.load(path)
    same = np.array_equal(loaded.forward(x_val), model.forward(x_val))
    print(f"saved {os.path.getsize(path):,} bytes; loaded classes {loaded.metadata['classes']}; "
          f"identical outputs: {same}")

# Output (python examples/quickstart.py):
#   Model: Sequential, input shape (per sample): (1, 16, 16)
#   ==============================================
#   Layer (type)     Output shape  Params    FLOPs
#   ==============================================
#   0 (Conv2D)       (8, 16, 16)       80   38,912
#   1 (BatchNorm2D)  (8, 16, 16)       16    4,096
#   2 (ReLU)         (8, 16, 16)        0    2,048
#   3 (MaxPool2D)    (8, 8, 8)          0    2,048
#   4 (Conv2D)       (16, 8, 8)     1,168  148,480
#   5 (BatchNorm2D)  (16, 8, 8)        32    2,048
#   6 (ReLU)         (16, 8, 8)         0    1,024
#   7 (MaxPool2D)    (16, 4, 4)         0    1,024
#   8 (Flatten)      (256,)             0        0
#   9 (Dense)        (4,)           1,028    2,052
#   ==============================================
#   Total params: 2,324
#   Trainable params: 2,324
#   Non-trainable values (buffers): 48
#   FLOPs per image: 201,732 (201.73 KFLOPs)
#   Weight memory (params + buffers, float32): 9.27 KiB
#   epoch 1: train loss 1.106   val accuracy 0.93
#   epoch 2: train loss 0.131   val accuracy 0.99
#   epoch 3: train loss 0.021   val accuracy 1.00
#   saved 18,428 bytes; loaded classes ['top-left', 'top-right', 'bottom-left', 'bottom-right']; identical outputs: True
