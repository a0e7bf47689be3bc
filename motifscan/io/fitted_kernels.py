"""Fitted kernel files (``motifscan fit``): a kernel with everything ``detect`` needs to use it
as it was fitted (p, threshold, normalisation, sign, learned metric), checked key by key
when read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from motifscan.choices import NORMALIZE, SIGNS as SIGN_CHOICES
from motifscan.errors import MotifscanError
from motifscan.kernel import check_kernel


KERNEL_FORMAT = "motifscan-kernel"
KERNEL_FORMAT_VERSION = 1
#: Window normalisations a fitted kernel may ask for; "none" compares the raw windows.
NORMALIZATIONS = NORMALIZE
#: Signs a fitted kernel may ask for (``detect --sign``); files without one mean "any".
SIGNS = SIGN_CHOICES
METRIC_KINDS = ("diagonal", "full")
_KEYS = ("format", "version", "values", "p", "threshold", "normalize", "sign", "metric", "training")
_OPTIONAL_KEYS = ("sign",)


@dataclass(frozen=True, eq=False)
class FittedKernel:
    """A kernel with everything ``detect`` needs to use it as it was fitted.

    Attributes
    ----------
    values : float64 array, shape (m,)
        The kernel.
    p : float
        Sharpness, > 0.
    threshold : float
        Detection threshold on ``abs(score)``, in [0, 1].
    normalize : str
        Window normalisation, one of :data:`NORMALIZATIONS` (``detect --normalize``).
    metric : float64 array, shape (m,) or (r, m), or None
        The learned linear map ``M`` (diagonal weights or a full matrix); the scan compares
        ``M w`` with ``M k``. None compares the windows themselves.
    training : dict
        JSON-ready summary of how the kernel was fitted (free form, for people).
    sign : str
        Which matches count, one of :data:`SIGNS` (``detect --sign``): ``fit`` writes
        ``positive``, since it learns the shape and not its inverse.
    """

    values: np.ndarray
    p: float
    threshold: float
    normalize: str = "none"
    metric: np.ndarray | None = None
    training: dict = field(default_factory=dict)
    sign: str = "any"

    def scan_metric(self) -> np.ndarray | None:
        """The metric a plain metric scan takes to score as this kernel was fitted: with
        centred windows, centring folded into the metric (``M C``; see
        :func:`motifscan.fitting.scan_metric`), so ``detect`` scans it with
        ``--normalize none``."""
        from motifscan.fitting import scan_metric

        return scan_metric(self.metric, self.normalize, self.values.size)

    def to_json(self) -> str:
        """The kernel file's text: a JSON object with one key per line (the kernel on one
        line, a full metric one row per line), floats written so they read back exactly."""
        from motifscan.similarity.metric import metric_kind

        def compact(value) -> str:
            return json.dumps(value)

        metric = "null"
        if self.metric is not None:
            matrix = np.asarray(self.metric, dtype=np.float64)
            if matrix.ndim == 1:
                rows = compact(matrix.tolist())
            else:
                rows = "[\n" + ",\n".join("   " + compact(row) for row in matrix.tolist()) + "\n  ]"
            metric = f'{{"kind": "{metric_kind(matrix)}", "values": {rows}}}'
        fields = [
            ("format", compact(KERNEL_FORMAT)),
            ("version", compact(KERNEL_FORMAT_VERSION)),
            ("values", compact(np.asarray(self.values, dtype=np.float64).tolist())),
            ("p", compact(float(self.p))),
            ("threshold", compact(float(self.threshold))),
            ("normalize", compact(self.normalize)),
            ("sign", compact(self.sign)),
            ("metric", metric),
            ("training", compact(self.training)),
        ]
        return "{\n" + ",\n".join(f" {compact(key)}: {text}" for key, text in fields) + "\n}\n"


def _fitted_number(data: dict, key: str, path: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise MotifscanError(f'{path}: "{key}" must be a finite number, got {json.dumps(value)}')
    return float(value)


def _fitted_metric(value, kernel_length: int, path: str) -> np.ndarray | None:
    from motifscan.similarity.metric import check_metric

    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"kind", "values"}:
        raise MotifscanError(f'{path}: "metric" must be null or an object with "kind" and "values"')
    kind = value["kind"]
    if kind not in METRIC_KINDS:
        raise MotifscanError(f"{path}: metric kind must be one of {', '.join(METRIC_KINDS)}, got {json.dumps(kind)}")
    values = value["values"]
    rows = values if kind == "full" and isinstance(values, list) else [values]
    if not isinstance(values, list) or not all(
        isinstance(row, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)
        for row in rows
    ):
        shape = "a list of rows of numbers" if kind == "full" else "a list of numbers"
        raise MotifscanError(f'{path}: the {kind} metric\'s "values" must be {shape}')
    if kind == "full" and len({len(row) for row in rows}) > 1:
        raise MotifscanError(f"{path}: the rows of the full metric differ in length")
    return check_metric(values, kernel_length, f"{path}: {kind} metric")


def fitted_kernel_from_json(data: dict, path: str) -> FittedKernel:
    """Check a parsed fitted kernel file and return it; every fault names ``path``."""
    from motifscan.similarity.metric import project

    if data.get("format") != KERNEL_FORMAT:
        raise MotifscanError(
            f'{path}: unknown kernel file format {json.dumps(data.get("format"))} (expected "{KERNEL_FORMAT}")'
        )
    version = data.get("version")
    if version != KERNEL_FORMAT_VERSION or isinstance(version, bool):
        raise MotifscanError(
            f"{path}: kernel file version {json.dumps(version)} is not supported "
            f"(this motifscan reads version {KERNEL_FORMAT_VERSION})"
        )
    unknown = [key for key in data if key not in _KEYS]
    if unknown:
        raise MotifscanError(f'{path}: unknown key "{unknown[0]}" in a fitted kernel file')
    missing = [key for key in _KEYS if key not in data and key not in _OPTIONAL_KEYS]
    if missing:
        raise MotifscanError(f'{path}: the fitted kernel file has no "{missing[0]}"')
    values = data["values"]
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise MotifscanError(f'{path}: "values" must be a list of numbers')
    values = check_kernel(values, path)
    p = _fitted_number(data, "p", path)
    if p <= 0:
        raise MotifscanError(f'{path}: "p" must be greater than 0, got {json.dumps(data["p"])}')
    threshold = _fitted_number(data, "threshold", path)
    if not 0 <= threshold <= 1:
        raise MotifscanError(f'{path}: "threshold" must lie in [0, 1], got {json.dumps(data["threshold"])}')
    if data["normalize"] not in NORMALIZATIONS:
        raise MotifscanError(
            f'{path}: "normalize" must be one of {", ".join(NORMALIZATIONS)}, got {json.dumps(data["normalize"])}'
        )
    sign = data.get("sign", "any")
    if sign not in SIGNS:
        raise MotifscanError(f'{path}: "sign" must be one of {", ".join(SIGNS)}, got {json.dumps(sign)}')
    metric = _fitted_metric(data["metric"], values.size, path)
    if metric is not None and not np.any(project(values, metric / np.max(np.abs(metric)))):
        raise MotifscanError(f"{path}: the metric maps the kernel to zero, so it has no shape to match")
    if not isinstance(data["training"], dict):
        raise MotifscanError(f'{path}: "training" must be a JSON object')
    return FittedKernel(values, p, threshold, data["normalize"], metric, data["training"], sign)
