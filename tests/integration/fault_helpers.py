"""A train_fn for fault tests, importable by process-pool workers.

Driven by environment variables (read at call time, so they do not enter the cache key):
``MIAUDIT_FAULT_DIR``: a directory where each call leaves a marker file (how many models
started, across workers); ``MIAUDIT_FAULT_KILL_AT``: the call (0-based, counted by markers)
that SIGKILLs its own worker; ``MIAUDIT_FAULT_SLEEP``: seconds each call sleeps after its
marker (to interrupt workers mid-training).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
from sklearn.linear_model import LogisticRegression


def fit_lr(x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
    """Logistic regression, with the faults the environment asks for."""
    where = os.environ.get("MIAUDIT_FAULT_DIR")
    if where:
        started = len(os.listdir(where))
        open(os.path.join(where, f"started-{started}-{os.getpid()}-{seed}"), "w").close()
        if os.environ.get("MIAUDIT_FAULT_KILL_AT") == str(started):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(os.environ.get("MIAUDIT_FAULT_SLEEP", "0")))
    return LogisticRegression(max_iter=200, random_state=seed).fit(x, y)
