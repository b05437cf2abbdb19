"""ONNX models, run by onnxruntime on its CPU provider. No parameters: the graph's weights
are constants of onnxruntime's, which torch cannot differentiate, so white-box attacks are
refused with a message naming the formats that have them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import DataError, one_line
from miaudit.targets._base import Target
from miaudit.targets.files._outputs import check_answers
from miaudit.validation import check_int

ONNX_NO_PARAMETERS = (
    "an ONNX file does not expose them to torch: give a TorchScript file, or a safetensors "
    "state dict with its model recipe"
)
_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def _final_op(path: Path, output_name: str) -> str | None:
    """The operator producing the graph output ``output_name`` (read with ``onnx``)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        if output_name in node.output:
            return str(node.op_type)
    return None


class OnnxTarget(Target):
    """An ONNX classifier: one input (the records, batch first), its first output of rank 2
    (logits or probabilities, ``(batch, C)``).

    The output kind is ``output`` when given, else "probabilities" when the node producing
    the output is a ``Softmax``, else "logits" (checked on every answer, see
    :mod:`miaudit.targets.files._outputs`). Records are cast to the input's element type
    (float32 for a float model; integer inputs, e.g. token ids, must hold integers) and
    their shape is checked against the input's fixed dimensions before the first run. A
    graph exported with a fixed batch size is fed in batches of exactly that size (the last
    one padded with copies of its last record, whose outputs are dropped).
    """

    parameters_note = ONNX_NO_PARAMETERS

    def __init__(
        self,
        path: Path,
        *,
        output: str | None = None,
        num_classes: int | None = None,
        batch_size: int = 4096,
    ) -> None:
        import onnxruntime as ort

        self.path = path
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # noqa: BLE001 -- onnxruntime raises its own exception types
            raise DataError(f"onnxruntime cannot load {path.name}: {one_line(e)}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise DataError(
                f"{path.name} has {len(inputs)} inputs ({names}); miaudit feeds one input, "
                "the records"
            )
        self._input = inputs[0]
        if self._input.type not in _DTYPES:
            raise DataError(
                f"{path.name} reads {self._input.type}; supported inputs: {', '.join(_DTYPES)}"
            )
        self._dtype = _DTYPES[self._input.type]
        outputs = [o for o in self.session.get_outputs() if len(o.shape or ()) == 2]
        if not outputs:
            raise DataError(f"{path.name} has no output of shape (batch, classes)")
        self._output = outputs[0]
        detected = "probabilities" if _final_op(path, self._output.name) == "Softmax" else "logits"
        self.output = output or detected
        self._explicit = output is not None
        super().__init__(
            frozenset({"probabilities", "labels", "loss"})
            | ({"logits"} if self.output == "logits" else set())
        )
        width = self._output.shape[1]
        static = width if isinstance(width, int) else None
        if num_classes is not None:
            num_classes = check_int(num_classes, "num_classes", low=2, error=DataError)
            if static is not None and static != num_classes:
                raise DataError(
                    f"{path.name} outputs {static} classes, but num_classes={num_classes}"
                )
        self._num_classes = num_classes or static
        self.batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        batch = self._input.shape[0] if self._input.shape else None
        self._fixed_batch = batch if isinstance(batch, int) and batch > 0 else None

    @property
    def num_classes(self) -> int:
        if self._num_classes is None:
            raise DataError(
                f"the number of classes of {self.path.name} is not known before its first "
                "query; pass num_classes=..."
            )
        return self._num_classes

    @property
    def description(self) -> str:
        return f"ONNX {self.path.name}"

    def _check_records(self, x: np.ndarray) -> np.ndarray:
        want = list(self._input.shape[1:])
        got = x.shape[1:]
        if len(want) != len(got) or any(
            isinstance(w, int) and w != g for w, g in zip(want, got, strict=False)
        ):
            shape = tuple(w if isinstance(w, int) else "?" for w in want)
            raise DataError(
                f"{self.path.name} reads records of shape {shape}, got records of shape {got}"
            )
        if np.issubdtype(self._dtype, np.integer) and not np.issubdtype(x.dtype, np.integer):
            if not np.all(np.equal(np.mod(x, 1), 0)):
                raise DataError(
                    f"{self.path.name} reads integers ({self._input.type}); the records are "
                    "not whole numbers"
                )
        return np.ascontiguousarray(x, dtype=self._dtype)

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        x = self._check_records(x)
        step = self._fixed_batch or self.batch_size
        parts: list[np.ndarray] = []
        for start in range(0, n, step):
            xb = x[start : start + step]
            rows = xb.shape[0]
            if self._fixed_batch is not None and rows < step:
                xb = np.concatenate([xb, np.repeat(xb[-1:], step - rows, axis=0)])
            try:
                out: Any = self.session.run([self._output.name], {self._input.name: xb})[0]
            except Exception as e:  # noqa: BLE001 -- onnxruntime's own exception types
                raise DataError(
                    f"target {self.description} rejected records of shape {tuple(x.shape)}: "
                    f"{one_line(e)}"
                ) from None
            parts.append(np.asarray(out, dtype=np.float64)[:rows])
        values = np.concatenate(parts) if parts else np.zeros((0, self._num_classes or 0))
        if self._num_classes is None and values.ndim == 2:
            if values.shape[1] < 2:
                raise DataError(
                    f"{self.path.name} returned {values.shape[1]} output column(s); a classifier "
                    "needs at least 2 classes"
                )
            self._num_classes = int(values.shape[1])
        return check_answers(values, self.output, self._explicit, self.description)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        if self.output == "logits":
            return super()._proba(x)
        return self._run(x)
