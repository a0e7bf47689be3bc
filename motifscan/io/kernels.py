"""Kernel (template) parsing: ``--kernel 1,2,3`` and ``--kernel-file``.

Kernel files are tiny, so they are read whole with the standard library.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Iterable, Sequence

import numpy as np

from motifscan.errors import MotifscanError


def check_kernel(values: Iterable, where: str) -> np.ndarray:
    """Return ``values`` as a float64 array, or raise if it cannot be a kernel.

    Parameters
    ----------
    values : iterable of numbers
        The template, shape (m,).
    where : str
        What to name in messages (the option or file the values came from).
    """
    try:
        kernel = np.asarray(list(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise MotifscanError(f"{where}: the kernel must be a list of numbers") from None
    if kernel.ndim != 1:
        raise MotifscanError(f"{where}: the kernel must be a flat list of numbers")
    if kernel.size == 0:
        raise MotifscanError(f"{where}: the kernel is empty")
    bad = np.flatnonzero(~np.isfinite(kernel))
    if bad.size:
        raise MotifscanError(
            f"{where}: kernel value {bad[0] + 1} is {kernel[bad[0]]}; every value must be finite"
        )
    if not np.any(kernel):
        raise MotifscanError(f"{where}: the kernel is all zeros, so it has no shape to match")
    return kernel


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MotifscanError(f"{where}: {text.strip()!r} is not a number") from None


def parse_kernel(text: str) -> np.ndarray:
    """Parse ``--kernel`` text such as ``"1,2,3"`` or ``"-1, 2, -3"`` into shape (m,)."""
    items = [item for item in text.replace(";", ",").split(",")]
    if all(not item.strip() for item in items):
        raise MotifscanError("--kernel: the kernel is empty")
    values = []
    for index, item in enumerate(items, start=1):
        if not item.strip():
            raise MotifscanError(f"--kernel: value {index} is missing in {text!r}")
        values.append(_number(item, f"--kernel: value {index}"))
    return check_kernel(values, "--kernel")


def read_kernel_file(path: str, column: str | None = None) -> np.ndarray:
    """Read a kernel from a file.

    Accepted forms: a JSON list of numbers (or an object with a ``"kernel"`` list); one
    value per line; a CSV/TSV with one column (optionally with a header); a CSV with
    several named columns, of which ``column`` picks one; a single line of values.

    Returns
    -------
    float64 array, shape (m,)
    """
    if path != "-" and not os.path.exists(path):
        raise MotifscanError(f"{path}: no such kernel file")
    try:
        if path == "-":
            import sys

            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise MotifscanError(f"{path}: cannot read kernel file ({error})") from None
    if not text.strip():
        raise MotifscanError(f"{path}: kernel file is empty")
    if text.lstrip()[:1] in "[{":
        return _kernel_from_json(text, path)
    return _kernel_from_table(text, path, column)


def _kernel_from_json(text: str, path: str) -> np.ndarray:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MotifscanError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
    if isinstance(data, dict):
        if "kernel" not in data:
            raise MotifscanError(f"{path}: a JSON kernel file needs a \"kernel\" list")
        data = data["kernel"]
    if not isinstance(data, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data
    ):
        raise MotifscanError(f"{path}: the JSON kernel must be a list of numbers")
    return check_kernel(data, path)


def _sniff_delimiter(line: str) -> str | None:
    for delimiter in ("\t", ",", ";"):
        if delimiter in line:
            return delimiter
    return None if len(line.split()) <= 1 else " "


def _kernel_from_table(text: str, path: str, column: str | None) -> np.ndarray:
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    delimiter = _sniff_delimiter(lines[0][1])
    if delimiter == " ":
        rows = [(number, line.split()) for number, line in lines]
    elif delimiter is None:
        rows = [(number, [line.strip()]) for number, line in lines]
    else:
        parsed = csv.reader(io.StringIO("\n".join(line for _, line in lines)), delimiter=delimiter)
        rows = [(number, [field.strip() for field in fields]) for (number, _), fields in zip(lines, parsed)]

    def numeric(field: str) -> bool:
        try:
            float(field)
        except ValueError:
            return False
        return True

    header = None if all(numeric(field) for field in rows[0][1]) else rows[0][1]
    body = rows[1:] if header is not None else rows
    width = len(rows[0][1])
    if header is None and len(body) == 1 and column is None:
        # A kernel written on one line: 1,2,3
        number, fields = body[0]
        return check_kernel([_number(f, f"{path}: line {number}") for f in fields], path)
    if not body:
        raise MotifscanError(f"{path}: kernel file has a header but no values")
    for number, fields in body:
        if len(fields) != width:
            raise MotifscanError(f"{path}: line {number}: expected {width} fields, found {len(fields)}")
    names = header if header is not None else [f"column{i}" for i in range(1, width + 1)]
    if column is not None:
        if column not in names:
            raise MotifscanError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
        index = names.index(column)
    elif width == 1:
        index = 0
    else:
        raise MotifscanError(
            f"{path}: kernel file has {width} columns ({', '.join(names)}); "
            "choose one with --kernel-column"
        )
    values = []
    for number, fields in body:
        values.append(_number(fields[index], f"{path}: line {number}, column {names[index]!r}"))
    return check_kernel(values, path)


def kernel_from_text_or_file(text: str | None, path: str | None, column: str | None = None) -> np.ndarray:
    """Resolve ``--kernel`` / ``--kernel-file`` / ``--kernel-column`` into one kernel."""
    if text is not None and path is not None:
        raise MotifscanError("give either --kernel or --kernel-file, not both")
    if column is not None and path is None:
        raise MotifscanError("--kernel-column needs --kernel-file")
    if text is not None:
        return parse_kernel(text)
    if path is not None:
        return read_kernel_file(path, column)
    raise MotifscanError("a kernel is required: give --kernel 1,2,3 or --kernel-file FILE")


__all__: Sequence[str] = ["check_kernel", "parse_kernel", "read_kernel_file", "kernel_from_text_or_file"]
