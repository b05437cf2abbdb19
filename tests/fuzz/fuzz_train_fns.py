"""Targets for the fuzz cases' ``reference.train_fn`` (imported by name by the runner)."""

not_callable = 3


def two_args(x, y):
    return None


class Trainer:
    def __init__(self, x, y, seed):
        pass


_RNG = __import__("numpy").random.default_rng(0)


def reads_a_generator(x, y, seed):
    """Reads a module-level random generator: the cache cannot fingerprint its behaviour."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=float(_RNG.random() + 1), random_state=seed).fit(x, y)
