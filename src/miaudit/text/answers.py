"""``TokenAnswers``, a causal LM's answers (defined NumPy-only in :mod:`miaudit.kinds`, which
must import without torch; re-exported here beside the LM code that produces them)."""

from miaudit.kinds._tokens import TokenAnswers

__all__ = ["TokenAnswers"]
