"""Kernel (template) parsing: ``--kernel [NAME=]1,2,3`` and ``--kernel-file``.

Kernel files are tiny, so they are read whole with the standard library. Besides plain
lists of values, a kernel file may be a *fitted kernel* written by ``motifscan fit``: a JSON
object with ``"format": "motifscan-kernel"`` that also carries the sharpness, the
threshold, the normalisation, an optional learned metric and a summary of the training
(see :class:`FittedKernel`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from typing import Sequence

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.kernel import Kernel, _number, check_kernel
from motifscan.io.fitted_kernels import FittedKernel, fitted_kernel_from_json


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


#: ``(stream, text)``: what the kernel readers took from standard input, so that a second
#: look at ``-`` (a fitted kernel file is tried first, then the plain forms) gets the same
#: text instead of an exhausted stream.
_stdin_read: tuple = (None, "")

#: The most a kernel file may hold, in bytes (characters from standard input). A fitted
#: kernel with a full metric of a 1,000-tap kernel takes about 25 MB; anything larger is
#: not a kernel (``/dev/zero``, a recording given by mistake) and is refused before it
#: fills the memory.
KERNEL_FILE_MAX_BYTES = 64 * 1024 * 1024
#: How deep JSON lists and objects may nest in a kernel file: a fitted kernel needs 3.
KERNEL_JSON_MAX_DEPTH = 32


def _read_text(path: str) -> str:
    global _stdin_read
    if path != "-" and not os.path.exists(path):
        raise MotifscanError(f"{path}: no such kernel file")
    too_large = MotifscanError(
        f"{path}: kernel file is larger than {KERNEL_FILE_MAX_BYTES // 2**20} MiB; a kernel is a short list of values"
    )
    try:
        if path == "-":
            import sys

            if _stdin_read[0] is not sys.stdin:
                _stdin_read = (sys.stdin, sys.stdin.read(KERNEL_FILE_MAX_BYTES + 1))
            text = _stdin_read[1]
            if len(text) > KERNEL_FILE_MAX_BYTES:
                raise too_large
        else:
            with open(path, "rb") as handle:
                # One byte past the cap is enough to know: a device or a huge file stops there.
                data = handle.read(KERNEL_FILE_MAX_BYTES + 1)
            if len(data) > KERNEL_FILE_MAX_BYTES:
                raise too_large
            text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MotifscanError(f"{path}: cannot read kernel file ({error})") from None
    if not text.strip():
        raise MotifscanError(f"{path}: kernel file is empty")
    return text


def _json_depth(text: str) -> int:
    """How deep the lists and objects of JSON ``text`` nest (brackets inside strings count
    too, so this never underestimates)."""
    depth = deepest = 0
    for match in re.finditer(r"[\[{\]}]", text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _loads_json(text: str, path: str):
    """``json.loads`` that refuses deep nesting with a message, not a RecursionError."""
    if _json_depth(text) > KERNEL_JSON_MAX_DEPTH:
        raise MotifscanError(
            f"{path}: JSON nests deeper than {KERNEL_JSON_MAX_DEPTH} levels; "
            "a kernel is a list of numbers or an object of such lists"
        )
    return json.loads(text)


def read_kernel_columns(path: str) -> tuple[dict, bool]:
    """Every column of a kernel file, by name.

    Accepted forms: a JSON list of numbers; a JSON object of named lists (``{"rise": [1, 2,
    3], "fall": [3, 2, 1]}``); one value per line; a single line of values; a CSV/TSV with
    one or several columns, with or without a header (headerless columns are ``column1``,
    ``column2``, ...). ``#`` starts a comment line.

    Returns
    -------
    columns : dict of str -> float64 array of shape (m,)
        In file order; an unnamed single kernel is named after the file (``pulse`` for
        ``pulse.txt``).
    named : bool
        Whether the file named its columns (a header or JSON keys).
    """
    text = _read_text(path)
    if text.lstrip()[:1] in "[{":
        return _kernels_from_json(text, path)
    return _kernels_from_table(text, path)


def _file_stem(path: str) -> str:
    if path == "-":
        return "stdin"
    name = os.path.basename(path)
    for extension in (".gz", ".csv", ".tsv", ".txt", ".json"):
        if name.lower().endswith(extension):
            name = name[: -len(extension)]
    return name or "kernel"


def read_kernel(path: str, column: str | None = None) -> "np.ndarray | FittedKernel":
    """Read one kernel from a file: its values, or the whole fitted kernel.

    Accepted forms: those of :func:`read_kernel_columns`, of which ``column`` picks one
    when the file holds several, and a fitted kernel file (JSON with ``"format":
    "motifscan-kernel"``).

    Returns
    -------
    float64 array, shape (m,), or FittedKernel
        A :class:`FittedKernel` for a fitted kernel file, else the values.
    """
    fitted = read_fitted_kernel(path)
    if fitted is not None:
        if column is not None:
            raise MotifscanError(f"{path}: --kernel-column does not apply to a fitted kernel file")
        return fitted
    columns, _ = read_kernel_columns(path)
    if column is not None:
        return check_kernel(_pick(columns, [column], path)[column], f"{path}: column {column!r}")
    if len(columns) > 1:
        raise MotifscanError(
            f"{path}: kernel file has {len(columns)} columns ({', '.join(columns)}); choose one with --kernel-column"
        )
    return check_kernel(next(iter(columns.values())), path)


def read_fitted_kernel(path: str) -> "FittedKernel | None":
    """The fitted kernel (``motifscan fit``) in ``path``, or None for a plain kernel file."""
    text = _read_text(path)
    if text.lstrip()[:1] != "{":
        return None
    try:
        data = _loads_json(text, path)
    except json.JSONDecodeError:
        return None  # the plain readers say what is wrong
    return fitted_kernel_from_json(data, path) if isinstance(data, dict) and "format" in data else None


def read_kernel_file(path: str, column: str | None = None) -> np.ndarray:
    """Read a kernel's values from a file (of a fitted kernel file, its ``values``).

    See :func:`read_kernel` for the accepted forms.

    Returns
    -------
    float64 array, shape (m,)
    """
    kernel = read_kernel(path, column)
    return kernel.values if isinstance(kernel, FittedKernel) else kernel


def _pick(columns: dict, names, path: str) -> dict:
    for name in names:
        if name not in columns:
            raise MotifscanError(f"{path}: no column {name!r} (columns: {', '.join(columns)})")
    return {name: columns[name] for name in names}


#: The JSON entry, or the first cell of the CSV row, that holds a joint kernel's channel weights.
WEIGHTS = "weights"


def read_kernel_weights(path: str, names: list) -> dict | None:
    """The channel weights a kernel file gives, by column name; None when it gives none.

    JSON: a ``"weights"`` entry, an object of column -> weight or a list in column order.
    CSV/TSV: a row whose first cell is ``weights`` followed by one weight per column (one
    cell more than the header). ``names`` are the file's columns, in file order.
    """
    text = _read_text(path)
    if text.lstrip()[:1] == "{":
        data = _loads_json(text, path)
        if not isinstance(data, dict) or WEIGHTS not in data:
            return None
        given = data[WEIGHTS]
        where = f'{path}: "weights"'
        if isinstance(given, list):
            if len(given) != len(names):
                raise MotifscanError(f"{where} has {len(given)} values for {len(names)} columns")
            given = dict(zip(names, given))
        if not isinstance(given, dict):
            raise MotifscanError(f"{where} must be an object of column -> weight, or a list")
        unknown = [name for name in given if name not in names]
        if unknown:
            raise MotifscanError(f"{where} names {unknown[0]!r}, which is not a column ({', '.join(names)})")
        weights = {}
        for name in names:
            value = given.get(name, 1.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise MotifscanError(f"{where}: the weight of {name!r} must be a number")
            weights[name] = _check_weight(float(value), f"{where}: {name!r}")
        return weights
    if text.lstrip()[:1] == "[":
        return None
    found = None
    for number, line in enumerate(text.splitlines(), start=1):
        delimiter = _sniff_delimiter(line.strip())
        fields = [field.strip() for field in (line.split() if delimiter == " " else line.split(delimiter or ","))]
        if fields and fields[0].lower() == WEIGHTS:
            if found is not None:
                raise MotifscanError(f"{path}: line {number}: a second weights row")
            if len(fields) - 1 != len(names):
                raise MotifscanError(
                    f"{path}: line {number}: the weights row has {len(fields) - 1} values for {len(names)} columns"
                )
            found = {
                name: _check_weight(
                    _number(field, f"{path}: line {number}, column {name!r}"), f"{path}: line {number}, column {name!r}"
                )
                for name, field in zip(names, fields[1:])
            }
    return found


def _check_weight(value: float, where: str) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise MotifscanError(f"{where}: a channel weight must be a finite number >= 0, got {value:g}")
    return value


def kernels_from_file(path: str, columns=(), joint: bool = False, channels=()) -> list[Kernel]:
    """The kernels a kernel file holds.

    Parameters
    ----------
    path : str
    columns : sequence of str
        Pick these columns (``--kernel-column``); default every column.
    joint : bool
        Read the file as ONE joint kernel whose columns are channels (``--joint``), named
        after the file; otherwise every column is a kernel of its own, named after the
        column.
    channels : sequence of str
        The signal channels asked for (``--column``); with ``joint`` and no ``columns``,
        the kernel's channels are those columns of the file when it has them all.
    """
    found, named = read_kernel_columns(path)
    weights = read_kernel_weights(path, list(found))
    if weights is not None and not joint:
        raise MotifscanError(f"{path}: channel weights apply to a joint kernel: add --joint")
    if columns:
        found = _pick(found, columns, path)
    elif joint and channels and all(name in found for name in channels):
        found = _pick(found, channels, path)
    if not joint:
        return [
            Kernel(name, (tuple(check_kernel(values, f"{path}: column {name!r}")),)) for name, values in found.items()
        ]
    lengths = {values.size for values in found.values()}
    if len(lengths) > 1:
        raise MotifscanError(f"{path}: a joint kernel needs columns of one length, found {sorted(lengths)}")
    names = tuple(found) if named else tuple(f"column{i}" for i in range(1, len(found) + 1))
    chosen = () if weights is None else tuple(weights[name] for name in found)
    if chosen and not any(chosen):
        raise MotifscanError(f"{path}: every channel weight is 0, so the kernel has nothing to match")
    return [Kernel(_file_stem(path), tuple(tuple(values) for values in found.values()), names, chosen)]


def _kernels_from_json(text: str, path: str) -> tuple[dict, bool]:
    try:
        data = _loads_json(text, path)
    except json.JSONDecodeError as error:
        raise MotifscanError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
    named = isinstance(data, dict)
    if named and "format" in data:
        raise MotifscanError(f"{path}: a fitted kernel file (motifscan fit) must be the run's only kernel")
    if not named:
        data = {_file_stem(path): data}
    data = {name: values for name, values in data.items() if name != WEIGHTS}
    if not data:
        raise MotifscanError(f"{path}: the JSON object names no kernel")
    columns = {}
    for name, values in data.items():
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            what = f"kernel {name!r}" if named else "the JSON kernel"
            raise MotifscanError(f"{path}: {what} must be a list of numbers")
        columns[str(name)] = check_kernel(values, path if not named else f"{path}: kernel {name!r}", allow_zeros=True)
    return columns, named


def _sniff_delimiter(line: str) -> str | None:
    for delimiter in ("\t", ",", ";"):
        if delimiter in line:
            return delimiter
    return None if len(line.split()) <= 1 else " "


def _kernels_from_table(text: str, path: str) -> tuple[dict, bool]:
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise MotifscanError(f"{path}: kernel file holds only comments, no values")
    delimiter = _sniff_delimiter(lines[0][1])
    if delimiter == " ":
        rows = [(number, line.split()) for number, line in lines]
    elif delimiter is None:
        rows = [(number, [line.strip()]) for number, line in lines]
    else:
        parsed = csv.reader(io.StringIO("\n".join(line for _, line in lines)), delimiter=delimiter)
        rows = [(number, [field.strip() for field in fields]) for (number, _), fields in zip(lines, parsed)]
    # The weights row (read by read_kernel_weights) holds no kernel values.
    rows = [(number, fields) for number, fields in rows if not fields or fields[0].lower() != WEIGHTS]
    if not rows:
        raise MotifscanError(f"{path}: kernel file holds only weights, no values")

    def numeric(field: str) -> bool:
        try:
            float(field)
        except ValueError:
            return False
        return True

    header = None if all(numeric(field) for field in rows[0][1]) else rows[0][1]
    body = rows[1:] if header is not None else rows
    width = len(rows[0][1])
    if header is None and len(body) == 1:
        # A kernel written on one line: 1,2,3
        number, fields = body[0]
        return {_file_stem(path): check_kernel([_number(f, f"{path}: line {number}") for f in fields], path)}, False
    if not body:
        raise MotifscanError(f"{path}: kernel file has a header but no values")
    for number, fields in body:
        if len(fields) != width:
            raise MotifscanError(f"{path}: line {number}: expected {width} fields, found {len(fields)}")
    if header is not None and len(set(header)) != width:
        raise MotifscanError(f"{path}: line {rows[0][0]}: two columns have the same name")
    if header is None:
        names = [_file_stem(path)] if width == 1 else [f"column{i}" for i in range(1, width + 1)]
    else:
        names = header
    columns = {}
    for index, name in enumerate(names):
        values = [_number(fields[index], f"{path}: line {number}, column {name!r}") for number, fields in body]
        columns[name] = check_kernel(values, path if width == 1 else f"{path}: column {name!r}", allow_zeros=True)
    return columns, header is not None


def parse_named_kernel(text: str, default_name: str) -> Kernel:
    """Parse ``--kernel`` text with an optional name: ``rise=1,2,3`` or ``1,2,3``."""
    name, values = default_name, text
    if "=" in text:
        name, values = (part.strip() for part in text.split("=", 1))
        if not name:
            raise MotifscanError(f"--kernel: the name before '=' is empty in {text!r}")
    return Kernel(name, (tuple(parse_kernel(values)),))


def collect_kernels(
    texts=(), paths=(), columns=(), joint: bool = False, channels=(), froms=(), time_column: str | None = None
) -> tuple:
    """Every kernel of a run, from ``--kernel``, ``--kernel-file``, ``--kernel-column``,
    ``--kernel-from`` and ``--joint``, in the order given.

    An unnamed ``--kernel`` is named ``kernel`` when it is the run's only kernel, else
    ``kernel1``, ``kernel2``, ... by its place among the ``--kernel`` options.

    Returns
    -------
    tuple of Kernel
    """
    if columns and not paths:
        raise MotifscanError("--kernel-column needs --kernel-file")
    if not texts and not paths and not froms:
        raise MotifscanError("a kernel is required: give --kernel 1,2,3, --kernel-file FILE or --kernel-from")
    if joint and texts:
        raise MotifscanError(
            "--joint needs kernels with one column per channel: give --kernel-file or --kernel-from, not --kernel"
        )
    alone = len(texts) == 1 and not paths and not froms
    kernels = [parse_named_kernel(text, "kernel" if alone else f"kernel{i}") for i, text in enumerate(texts, 1)]
    for path in paths:
        kernels += kernels_from_file(path, columns, joint, channels)
    if froms:
        from motifscan.io.excerpt import kernel_from_recording

        kernels += [kernel_from_recording(spec, joint, channels, time_column) for spec in froms]
    seen = set()
    for kernel in kernels:
        if kernel.name in seen:
            raise MotifscanError(f"two kernels are named {kernel.name!r}; name them apart (NAME=...)")
        seen.add(kernel.name)
    return tuple(kernels)


__all__: Sequence[str] = [
    "Kernel",
    "check_kernel",
    "parse_kernel",
    "parse_named_kernel",
    "read_kernel_columns",
    "read_kernel",
    "read_fitted_kernel",
    "read_kernel_file",
    "kernels_from_file",
    "collect_kernels",
    "FittedKernel",
    "fitted_kernel_from_json",
]
