"""Placeholder: being written."""


class SGD:
    pass


class Adam:
    pass
