"""What a saved model's output means, logits or probabilities, and the checks that catch a
wrong guess before it turns into a plausible wrong number.

A loaded file declares its output kind (``output: logits|probabilities``, or what the
format says: a final ``Softmax`` node in an ONNX graph, ``predict_proba`` of a skops
estimator, the ``logits`` of a Hugging Face head). Every answer is checked against it:

* probabilities must be non-negative and sum to 1 (within
  :data:`~miaudit.outputs.PROB_SUM_ATOL`, the tolerance of every miaudit output); otherwise
  the error suggests ``output: logits``;
* logits that were *assumed* (no ``output`` given) but look like probabilities (every row
  non-negative and summing to 1 within ``1e-5``: a softmax layer at the end) are refused
  too, because their softmax would silently flatten every attack's signal; the error
  suggests ``output: probabilities``. An explicit ``output: logits`` skips this check.
"""

from __future__ import annotations

import numpy as np

from miaudit.errors import ConfigError, DataError, short_repr
from miaudit.outputs import PROB_SUM_ATOL

OUTPUT_KINDS = ("logits", "probabilities")
#: rows of assumed logits this close to a probability vector are taken for a softmax output;
#: float32 softmax rows sum to 1 within about C * 6e-8, far inside it
_LOOKS_LIKE_PROBS_ATOL = 1e-5


def check_output_kind(output: object) -> str | None:
    """``output`` checked: None (the format decides), "logits" or "probabilities"."""
    if output is not None and output not in OUTPUT_KINDS:
        raise ConfigError(f"output must be 'logits' or 'probabilities', got {short_repr(output)}")
    return output  # type: ignore[return-value]


def check_answers(values: np.ndarray, kind: str, explicit: bool, what: str) -> np.ndarray:
    """``values`` (n, C) of the target ``what`` checked against their declared ``kind``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        return values
    if not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values).all(axis=1)))
        raise DataError(f"target {what} returned NaN or inf in {bad} of {len(values)} rows")
    sums = values.sum(axis=1)
    if kind == "probabilities":
        off = (values.min(axis=1) < 0) | (np.abs(sums - 1.0) > PROB_SUM_ATOL)
        if np.any(off):
            i = int(np.argmax(off))
            raise DataError(
                f"target {what} was declared to output probabilities, but {int(off.sum())} of "
                f"{len(values)} rows are not probability vectors (row {i}: sum {sums[i]:.6g}, "
                f"min {values[i].min():.6g}); if the model outputs logits, set output: logits"
            )
    elif (
        not explicit
        and np.all(values >= 0)
        and np.all(np.abs(sums - 1.0) <= _LOOKS_LIKE_PROBS_ATOL)
    ):
        raise DataError(
            f"target {what} outputs look like probabilities (every row is non-negative and sums "
            "to 1), but logits were assumed: set output: probabilities if the model ends in a "
            "softmax, or output: logits if these really are logits"
        )
    return values
