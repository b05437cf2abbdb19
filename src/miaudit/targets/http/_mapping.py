"""How a batch of records becomes a JSON request body, and where the outputs are in the answer.

A :class:`Mapping` is a request template (any JSON value; the string ``"$inputs"`` stands
for the batch as nested lists, ``"$inputs_flat"`` for it flattened row-major, ``"$shape"``
for its shape ``[n, ...]``, ``"$n"`` for the number of records and ``"$datatype"`` for the
records' dtype in the Open Inference Protocol's names, e.g. "FP32") and the paths of the
outputs in the answer. A path is dotted: ``predictions``, ``outputs.0.data``; ``*`` maps
over a list (``predictions.*.probs``: the ``probs`` of each element); ``""`` or ``$`` is the
whole answer.

Named templates (:data:`TEMPLATES`):

* ``default``: ``{"inputs": [[...], ...]}`` -> ``{"outputs": [[p_1, ..., p_C], ...]}``;
* ``kserve``: KServe's v1 protocol (also TensorFlow Serving's row format and TorchServe's
  KServe wrapper): ``{"instances": [...]}`` -> ``{"predictions": [...]}``;
* ``kserve_v2``: the Open Inference Protocol (KServe v2, Triton, MLServer): one input
  tensor ``{"name": "input-0", "shape": [n, ...], "datatype": "FP32", "data": [flat]}``
  -> ``outputs.0.data``, flat, reshaped to one row per record;
* ``torchserve``: TorchServe's native ``/predictions/{model}``: the body is the batch
  itself (a top-level JSON list, which a handler's ``preprocess`` reads) and the answer a
  top-level list with one output per record.

For ``output: top_k`` the answer gives, per record, ``labels`` (k class indices) and
``scores`` (their k probabilities); the templates' default paths are ``<root>.*.labels``
and ``<root>.*.scores``; for ``output: labels`` the path gives one class index per record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.errors import ConfigError, DataError, short_repr
from miaudit.targets.http._errors import EndpointError

OUTPUT_KINDS = ("probabilities", "logits", "top_k", "labels")
PLACEHOLDERS = ("$inputs", "$inputs_flat", "$shape", "$n", "$datatype")
_BATCH_PLACEHOLDERS = ("$inputs", "$inputs_flat")

_V2_DATATYPES = {
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
}


@dataclass(frozen=True)
class Template:
    """A named request template and where its answer holds the outputs."""

    request: Any
    root: str
    flat: bool = False


TEMPLATES: dict[str, Template] = {
    "default": Template(request={"inputs": "$inputs"}, root="outputs"),
    "kserve": Template(request={"instances": "$inputs"}, root="predictions"),
    "kserve_v2": Template(
        request={
            "inputs": [
                {
                    "name": "input-0",
                    "shape": "$shape",
                    "datatype": "$datatype",
                    "data": "$inputs_flat",
                }
            ]
        },
        root="outputs.0.data",
        flat=True,
    ),
    "torchserve": Template(request="$inputs", root=""),
}


@dataclass(frozen=True)
class Mapping:
    """A request template and the answer's paths, for one output kind.

    Attributes:
        request: the JSON template of the body (placeholders: module docstring).
        outputs: path of the per-record outputs: probability or logit rows, or labels.
        labels, scores: paths of the top-k labels and scores (``output: top_k``).
        flat: the outputs at ``outputs`` are one flat row-major list (reshaped to n rows).
        output: "probabilities", "logits", "top_k" or "labels".
    """

    request: Any
    outputs: str | None
    labels: str | None
    scores: str | None
    flat: bool
    output: str

    def identity(self) -> dict[str, Any]:
        """The JSON-able identity of this mapping (part of the cache's key)."""
        return {
            "request": self.request,
            "outputs": self.outputs,
            "labels": self.labels,
            "scores": self.scores,
            "flat": self.flat,
            "output": self.output,
        }

    @property
    def uses_datatype(self) -> bool:
        return "$datatype" in _strings(self.request)


def make_mapping(
    request: Any = None, response: Any = None, *, output: str = "probabilities"
) -> Mapping:
    """The :class:`Mapping` of ``request`` (a template name or a JSON template; None:
    "default") and ``response`` (None: the named template's paths; a template name; a path
    string, which keeps the request template's ``flat``, e.g. kserve_v2's flat tensors; or a
    mapping with ``outputs`` / ``labels`` / ``scores`` paths and ``flat``, default false).
    ConfigError for an unknown template, a template without exactly one batch placeholder,
    a bad path."""
    if output not in OUTPUT_KINDS:
        raise ConfigError(
            f"output must be one of {', '.join(OUTPUT_KINDS)}, got {short_repr(output)}"
        )
    base = TEMPLATES["default"]
    if request is None:
        body = base.request
    elif isinstance(request, str) and request in TEMPLATES:
        base = TEMPLATES[request]
        body = base.request
    elif isinstance(request, str) and request not in PLACEHOLDERS:
        raise ConfigError(
            f"unknown request template {short_repr(request)} (templates: "
            f'{", ".join(TEMPLATES)}; or give the body as a JSON template with "$inputs")'
        )
    else:
        body = request
        if isinstance(response, str) and response in TEMPLATES:
            base = TEMPLATES[response]
    _check_template(body)
    flat = base.flat
    root = base.root
    paths: dict[str, str | None] = {"outputs": None, "labels": None, "scores": None}
    if response is None or (isinstance(response, str) and response in TEMPLATES):
        if isinstance(response, str):
            root, flat = TEMPLATES[response].root, TEMPLATES[response].flat
        _default_paths(paths, root, output)
    elif isinstance(response, str):
        _default_paths(paths, response, output)
    elif isinstance(response, dict):
        unknown = set(response) - {"outputs", "labels", "scores", "flat"}
        if unknown:
            raise ConfigError(
                f"unknown response key(s) {sorted(unknown)} (valid: outputs, labels, scores, flat)"
            )
        flat = response.get("flat", False)
        if not isinstance(flat, bool):
            raise ConfigError(f"response 'flat' must be true or false, got {short_repr(flat)}")
        for key in ("outputs", "labels", "scores"):
            if response.get(key) is not None:
                paths[key] = response[key]
    else:
        raise ConfigError(
            "response must be a template name, a path (e.g. 'predictions') or a mapping of "
            f"paths, got {short_repr(response)}"
        )
    for key, path in paths.items():
        if path is not None:
            parse_path(path, what=f"response {key} path")
    _check_paths(paths, output, flat)
    return Mapping(body, paths["outputs"], paths["labels"], paths["scores"], flat, output)


def _default_paths(paths: dict[str, str | None], root: str, output: str) -> None:
    if output == "top_k":
        prefix = f"{root}." if root not in ("", "$") else ""
        paths["labels"] = f"{prefix}*.labels"
        paths["scores"] = f"{prefix}*.scores"
    else:
        paths["outputs"] = root


def _check_paths(paths: dict[str, str | None], output: str, flat: bool) -> None:
    if output == "top_k":
        if paths["labels"] is None or paths["scores"] is None:
            raise ConfigError("output: top_k needs response paths for both 'labels' and 'scores'")
        if flat:
            raise ConfigError("response 'flat' applies to probabilities or logits, not top_k")
    elif paths["outputs"] is None:
        raise ConfigError(f"output: {output} needs a response 'outputs' path")
    if flat and output == "labels":
        raise ConfigError("response 'flat' applies to probabilities or logits, not labels")


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value (keys excluded)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_template(body: Any) -> None:
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"request template is not JSON: {e}") from None
    found = [s for s in _strings(body) if s in _BATCH_PLACEHOLDERS]
    if len(found) != 1:
        raise ConfigError(
            'request template must hold exactly one "$inputs" or "$inputs_flat" (where '
            f"the batch goes), found {len(found)}: {short_repr(body)}"
        )


def parse_path(path: Any, *, what: str = "path") -> list[str | int]:
    """``"a.0.b"`` -> ``["a", 0, "b"]``; ``"*"`` segments stay ``"*"``; ``""``/``"$"`` -> []."""
    if not isinstance(path, str):
        raise ConfigError(f"{what} must be a string like 'predictions', got {short_repr(path)}")
    text = path[2:] if path.startswith("$.") else path
    if text in ("", "$"):
        return []
    parts: list[str | int] = []
    for seg in text.split("."):
        if seg == "":
            raise ConfigError(f"{what} {path!r} has an empty segment")
        parts.append(int(seg) if seg.isdigit() else seg)
    return parts


# -- the request body ----------------------------------------------------------------------
def record_json(record: np.ndarray) -> str:
    """One record as the JSON text the body carries (nested lists; floats by ``repr``, so
    float32 and float64 values travel exactly)."""
    try:
        return json.dumps(record.tolist(), allow_nan=False)
    except ValueError:
        raise DataError("a record with NaN or inf cannot be sent as JSON") from None


def request_body(
    mapping: Mapping, records: list[str], shape: tuple[int, ...], dtype: np.dtype
) -> bytes:
    """The body for a batch: the template with the placeholders filled in. ``records`` are
    the records' :func:`record_json` texts (the bytes the cache keys on)."""
    n = len(records)
    fills = {
        "$inputs": "[" + ",".join(records) + "]",
        "$inputs_flat": "[" + ",".join(_flat(r) for r in records) + "]",
        "$shape": json.dumps([n, *shape]),
        "$n": str(n),
        "$datatype": json.dumps(_V2_DATATYPES.get(np.dtype(dtype).name, "FP64")),
    }
    return _fill(mapping.request, fills).encode()


def _flat(record: str) -> str:
    """A nested-list JSON text flattened (brackets dropped): ``[[1, 2], [3]]`` -> ``1, 2, 3``."""
    return record.replace("[", "").replace("]", "").strip()


def _fill(value: Any, fills: dict[str, str]) -> str:
    if isinstance(value, str) and value in fills:
        return fills[value]
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}:{_fill(v, fills)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_fill(v, fills) for v in value) + "]"
    return json.dumps(value)


# -- the answer ----------------------------------------------------------------------------
def extract(doc: Any, path: str, what: str) -> Any:
    """The value at ``path`` in the parsed answer (EndpointError naming the missing part)."""
    return _walk(doc, parse_path(path), what, path)


def _walk(value: Any, parts: list[str | int], what: str, path: str) -> Any:
    for i, part in enumerate(parts):
        if part == "*":
            if not isinstance(value, list):
                raise EndpointError(
                    f"{what}: expected a list at '*' of path {path!r}, got {_kind(value)}"
                )
            return [_walk(v, parts[i + 1 :], what, path) for v in value]
        if isinstance(part, int) and isinstance(value, list):
            if part >= len(value):
                raise EndpointError(
                    f"{what}: path {path!r} indexes item {part} of a list of {len(value)}"
                )
            value = value[part]
        elif isinstance(value, dict) and str(part) in value:
            value = value[str(part)]
        else:
            keys = (
                f" (keys: {', '.join(sorted(map(str, value))[:8])})"
                if isinstance(value, dict)
                else ""
            )
            raise EndpointError(
                f"{what}: the answer has no {str(part)!r} at path {path!r}, "
                f"got {_kind(value)}{keys}"
            )
    return value


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return short_repr(value, 40)


def _numbers(value: Any, what: str, *, integers: bool = False) -> np.ndarray:
    """A nested list of numbers as a float64 (or int64) array; bools, strings, nulls and
    ragged rows refused."""
    if not isinstance(value, list):
        raise EndpointError(f"{what}: expected a list, got {_kind(value)}")
    leaves = _leaves(value)
    bad = [v for v in leaves if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise EndpointError(f"{what}: expected numbers, found {short_repr(bad[0], 40)}")
    try:
        arr = np.array(value, dtype=np.float64)
    except ValueError:
        raise EndpointError(f"{what}: rows of different lengths") from None
    if integers:
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise EndpointError(
                f"{what}: class indices must be integers, found {short_repr(value, 60)}"
            )
        return arr.astype(np.int64)
    return arr


def _leaves(value: Any) -> list[Any]:
    out: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        else:
            out.append(v)
    return out


def parse_answer(
    doc: Any,
    mapping: Mapping,
    *,
    n: int,
    num_classes: int,
    top_k: int | None,
    what: str,
) -> list[Any]:
    """The per-record answers of one batch of ``n`` records, validated: one probability or
    logit row (list of C floats), one label (int), or ``{"labels": [...], "scores": [...]}``
    per record. EndpointError (prefixed with ``what``, naming the URL and batch) for a wrong
    shape, a wrong number of classes, NaN or inf, probabilities outside [0, 1] or rows not
    summing to 1 (never normalised here), labels outside the classes."""
    from miaudit.outputs import PROB_SUM_ATOL

    out = mapping.output
    if out == "labels":
        assert mapping.outputs is not None
        labels = _numbers(extract(doc, mapping.outputs, what), what, integers=True)
        _check_len(labels, n, what, "labels")
        if labels.ndim != 1:
            raise EndpointError(f"{what}: expected one label per record, got shape {labels.shape}")
        _check_classes(labels, num_classes, what)
        return [int(v) for v in labels]
    if out == "top_k":
        assert mapping.labels is not None and mapping.scores is not None
        labels = _numbers(
            extract(doc, mapping.labels, what), f"{what} (top-k labels)", integers=True
        )
        scores = _numbers(extract(doc, mapping.scores, what), f"{what} (top-k scores)")
        _check_len(labels, n, what, "top-k label rows")
        if labels.ndim != 2 or scores.shape != labels.shape:
            raise EndpointError(
                f"{what}: top-k labels {labels.shape} and scores {scores.shape} must both be "
                f"(n, k) with n = {n}"
            )
        k = labels.shape[1]
        if top_k is not None and k != min(top_k, num_classes):
            raise EndpointError(f"{what}: the answer has {k} classes per record, top_k is {top_k}")
        if k > num_classes:
            raise EndpointError(
                f"{what}: {k} top-k classes per record but the model has {num_classes}"
            )
        _check_classes(labels, num_classes, what)
        if any(len(set(row)) != k for row in labels.tolist()):
            raise EndpointError(f"{what}: a record's top-k labels repeat a class")
        _check_probabilities(scores, what, "top-k scores")
        sums = scores.sum(axis=1)
        if np.any(sums > 1 + PROB_SUM_ATOL):
            i = int(np.argmax(sums))
            raise EndpointError(
                f"{what}: top-k scores of row {i} sum to {sums[i]:.6g} > 1; not probabilities"
            )
        return [
            {"labels": lab, "scores": sc}
            for lab, sc in zip(labels.tolist(), scores.tolist(), strict=True)
        ]
    assert mapping.outputs is not None
    values = _numbers(extract(doc, mapping.outputs, what), what)
    if mapping.flat:
        if values.ndim != 1 or values.size != n * num_classes:
            raise EndpointError(
                f"{what}: a flat answer of {values.size} values cannot be {n} records x "
                f"{num_classes} classes"
            )
        values = values.reshape(n, num_classes)
    _check_len(values, n, what, "rows")
    if values.ndim != 2:
        raise EndpointError(
            f"{what}: expected one row of {num_classes} {out} per record, got shape {values.shape}"
        )
    if values.shape[1] != num_classes:
        raise EndpointError(
            f"{what}: rows have {values.shape[1]} {out}, but the model has "
            f"num_classes={num_classes}"
        )
    if not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values).all(axis=1)))
        raise EndpointError(f"{what}: NaN or inf {out} in {bad} of {n} rows")
    if out == "probabilities":
        _check_probabilities(values, what, "probabilities")
        sums = values.sum(axis=1)
        off = np.abs(sums - 1.0) > PROB_SUM_ATOL
        if np.any(off):
            i = int(np.argmax(off))
            raise EndpointError(
                f"{what}: probability rows must sum to 1: {int(off.sum())} of {n} do not (row {i} "
                f"sums to {sums[i]:.6g}); if the endpoint returns raw scores, use output: logits"
            )
    return values.tolist()


def _check_len(arr: np.ndarray, n: int, what: str, noun: str) -> None:
    if arr.ndim == 0 or arr.shape[0] != n:
        got = "a scalar" if arr.ndim == 0 else f"{arr.shape[0]} {noun}"
        raise EndpointError(f"{what}: {n} records sent, the answer has {got}")


def _check_classes(labels: np.ndarray, num_classes: int, what: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = sorted({int(v) for v in labels.ravel() if v < 0 or v >= num_classes})[:5]
        raise EndpointError(f"{what}: labels {bad} outside the classes 0..{num_classes - 1}")


def _check_probabilities(values: np.ndarray, what: str, noun: str) -> None:
    if not np.all(np.isfinite(values)):
        raise EndpointError(f"{what}: NaN or inf in the {noun}")
    if np.any(values < -1e-12) or np.any(values > 1 + 1e-12):
        raise EndpointError(
            f"{what}: {noun} outside [0, 1] (e.g. {values[(values < 0) | (values > 1)][0]:.6g}); "
            "if the endpoint returns raw scores, use output: logits"
        )
