"""The public names the issue promises are importable from the top-level package."""
import minicnn


def test_public_names():
    for name in ["Conv2D", "BatchNorm2D", "ReLU", "MaxPool2D", "GlobalAvgPool2D", "Flatten", "Dense",
                 "Dropout", "ResidualBlock", "Sequential", "softmax_cross_entropy", "SGD", "Adam", "load"]:
        assert hasattr(minicnn, name), name
