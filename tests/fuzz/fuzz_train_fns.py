"""Targets for the fuzz cases' ``reference.train_fn`` (imported by name by the runner)."""

not_callable = 3


def two_args(x, y):
    return None


class Trainer:
    def __init__(self, x, y, seed):
        pass
