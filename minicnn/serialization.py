"""Placeholder: being written."""


def load(path):
    raise NotImplementedError
