"""How minicnn proves a backward pass: the numerical gradient check, step by step.

Run:  python examples/gradcheck_walkthrough.py        (about a second)

A layer's backward(dout) claims to return dL/dx for the loss L = sum(forward(x) * dout).
We can measure that derivative without any calculus: nudge one input by +h and -h and see
how L moves. If the two answers agree to ~1e-7 relative error, the backward is right.
"""
import numpy as np

import minicnn as mc
from minicnn.gradcheck import check_layer, numerical_gradient, rel_error

rng = np.random.default_rng(0)

# 1. One layer, one input, float64 (float32 rounding would swamp the tiny differences).
dense = mc.Dense(4, 3, dtype=np.float64, rng=rng)
x = rng.standard_normal((2, 4))              # a batch of 2 samples, 4 features each
dout = rng.standard_normal((2, 3))           # a *random* upstream gradient, not all ones


def loss():
    return float(np.sum(dense.forward(x, training=True) * dout))   # a scalar made from the output


# 2. The analytic gradient: what the hand-derived backward pass says.
dense.forward(x, training=True)
dx = dense.backward(dout)                    # dx = dout @ W.T

# 3. The numerical gradient of a single entry, by hand: a centred difference.
h = 1e-6
old = x[0, 1]
x[0, 1] = old + h
plus = loss()
x[0, 1] = old - h
minus = loss()
x[0, 1] = old
print(f"dL/dx[0,1]  backward: {dx[0, 1]:+.10f}   (L(x+h) - L(x-h)) / 2h: {(plus - minus) / (2 * h):+.10f}")

# 4. The same for every entry (numerical_gradient loops exactly like step 3), then compare.
num_dx = numerical_gradient(loss, x)
num_dW = numerical_gradient(loss, dense.params["W"])   # parameters are checked the same way
print(f"Dense  relative error  x: {rel_error(dx, num_dx):.1e}   "
      f"W: {rel_error(dense.grads['W'], num_dW):.1e}")

# 5. check_layer does steps 1-4 for the input and every parameter. A convolution:
conv = mc.Conv2D(2, 3, kernel_size=3, stride=2, padding=1, dtype=np.float64, rng=rng)
errors = check_layer(conv, rng.standard_normal((2, 2, 5, 5)))
# The exact values (about 1e-10) change in their last digits with the CPU's BLAS kernel, so the
# printed line states the verdict, which does not: far below 1e-7 for x, W and b alike.
print("Conv2D relative errors below 1e-8:", {k: bool(v < 1e-8) for k, v in errors.items()})


# 6. What a bug looks like: dx = dout @ W instead of dout @ W.T. With a square W the shapes
#    still fit, so nothing crashes -- only the gradient check notices.
class BuggyDense(mc.Dense):
    def backward(self, dout):
        super().backward(dout)
        return dout @ self.params["W"]        # forgot the transpose


buggy = BuggyDense(3, 3, dtype=np.float64, rng=rng)
print("buggy Dense x error:", f"{check_layer(buggy, rng.standard_normal((2, 3)))['x']:.1e}",
      "(about 1e-7 or less means right; this is a bug)")

# 7. Why float64: the same Conv2D check in float32 gives errors that swamp a real bug.
conv32 = mc.Conv2D(2, 3, kernel_size=3, stride=2, padding=1, dtype=np.float32, rng=0)
x32 = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
out = conv32.forward(x32, training=True)
d32 = rng.standard_normal(out.shape).astype(np.float32)
dx32 = conv32.backward(d32)
num32 = numerical_gradient(lambda: float(np.sum(conv32.forward(x32) * d32)), x32, h=1e-3)
print(f"Conv2D in float32, x error: {rel_error(dx32, num32):.1e}   "
      "(rounding noise: a small bug could hide in it)")

# Output (python examples/gradcheck_walkthrough.py):
#   dL/dx[0,1]  backward: -0.6971981196   (L(x+h) - L(x-h)) / 2h: -0.6971981197
#   Dense  relative error  x: 3.5e-11   W: 9.0e-12
#   Conv2D relative errors below 1e-8: {'x': True, 'W': True, 'b': True}
#   buggy Dense x error: 6.3e-01 (about 1e-7 or less means right; this is a bug)
#   Conv2D in float32, x error: 1.6e-04   (rounding noise: a small bug could hide in it)
