"""The choices of every option that takes one of a few words, written once.

The command line (``click.Choice``), the Python API's checks (:class:`motifscan.config.
DetectConfig` and the modules behind it) and the documentation (checked by
``tests/test_docs.py``) all take them from here. The first choice is the default where an
option has one. Nothing is imported here, so ``motifscan --help`` stays fast.
"""

from __future__ import annotations

from motifscan.errors import MotifscanError

#: Which matches to report: the shape, its inversion, or both (``sign``).
SIGNS = ("any", "positive", "negative")
#: What a motif is detected on: the sharpened cosine score, or the plain convolution.
METHODS = ("cosine", "conv")
#: Overlapping motifs of different kernels on one channel: the strongest, or all.
OVERLAP = ("best", "keep")
#: Window normalisation before the cosine (``normalize``).
NORMALIZE = ("none", "center", "zscore")
#: Similarity backends; ``cuda`` is reached from the command line through ``--device gpu``.
BACKENDS = ("auto", "numpy", "numba", "fft", "cuda")
COMMAND_LINE_BACKENDS = tuple(backend for backend in BACKENDS if backend != "cuda")
#: Where the scan runs (``device``).
DEVICES = ("auto", "cpu", "gpu")
#: A learned metric of ``motifscan fit``: none, diagonal weights, or a full matrix.
METRICS = ("none", "diagonal", "full")
#: What to do with a text line that cannot be read: stop, leave it out, or read it as missing.
BAD_LINES = ("error", "skip", "nan")
#: Output formats of each command.
DETECT_FORMATS = ("table", "json", "jsonl", "csv")
COMPARE_FORMATS = ("table", "json", "csv")
FIT_REPORT_FORMATS = ("table", "json")
SCORE_FORMATS = ("csv", "parquet")
PLOT_FORMATS = ("png", "svg", "pdf")


def check_choice(parameter: str, value, choices: tuple) -> str:
    """``value`` if it is one of ``choices``, else a :class:`MotifscanError` naming
    ``parameter`` (a Python parameter name; the command line shows it as its option)."""
    if value not in choices:
        raise MotifscanError(f"{parameter} must be one of {', '.join(choices)}, got {value!r}", (parameter,))
    return value
