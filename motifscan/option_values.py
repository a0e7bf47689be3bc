"""Option values checked and parsed one at a time: numbers and whole numbers in range,
``--min-gap`` in samples, spans or time (:class:`MinGap`), ``--dilation`` lists and ranges.
Messages name the Python parameter; the command line maps it to its option.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from motifscan.errors import MotifscanError


#: Default ``--min-gap``: half the span. Chosen from the measurements on real recordings in
#: docs/method.md ("Why the default gap is half the span"): with kernels cut as one beat or
#: one stride, the old default (the span) hid 7 of 26 heart beats, half the span none; a
#: quarter also hid none but reported one event twice where a shape resembles itself shifted.
DEFAULT_MIN_GAP = "0.5span"
#: Units of a ``--min-gap`` given as a time, in seconds.
TIME_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_GAP_FORM = re.compile(rf"^({_NUMBER})\s*(span|ms|s|min|h|d)?$")
#: A quotient within this of a whole number of samples is that number (round-off of
#: decimal times and steps, e.g. 0.25 s / (1/360 s) = 90.00000000000001).
_WHOLE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class MinGap:
    """``--min-gap``: how close two motifs of one channel may be, in one of three forms.

    Exactly one of ``samples``, ``span_fraction`` and ``seconds`` is set. The gap in samples
    (:meth:`samples_for`) is ``samples``; or ``ceil(span_fraction * span)`` of the span of
    the window in question (each dilation its own), at least 2 when the span is 2 or more
    (a gap of 1 suppresses nothing); or ``ceil(seconds / step)`` where
    ``step`` is the sampling step of the time column in seconds.

    Attributes
    ----------
    samples : int or None
        A number of samples, >= 0.
    span_fraction : fractions.Fraction or None
        A fraction of the span, >= 0 (``0.25span``).
    seconds : float or None
        A duration in seconds, >= 0 (``250ms``, ``0.3s``, ``2min``, ``1h``, ``1d``).
    text : str
        The form as given (normalised), for reports and messages.
    """

    samples: int | None = None
    span_fraction: Fraction | None = None
    seconds: float | None = None
    text: str = ""

    @property
    def is_time(self) -> bool:
        """Whether the gap is a time, which needs the input's time column."""
        return self.seconds is not None

    def samples_for(self, span_: int, step: float | None = None) -> int:
        """The gap in samples for windows of ``span_`` samples; ``step`` is the sampling step
        of the time column in seconds (needed by a time only)."""
        if self.samples is not None:
            return self.samples
        if self.span_fraction is not None:
            if self.span_fraction == 0:
                return 0
            # At least 2 samples (when the window has 2): a gap of 1 suppresses nothing, so
            # the neighbouring positions of one peak of a short kernel would all be motifs.
            return max(math.ceil(self.span_fraction * span_), min(2, span_))
        if step is None:
            raise MotifscanError(f"min_gap {self.text}: a time needs the sampling step of a time column", ("min_gap",))
        if self.seconds is None:
            raise ValueError("a MinGap sets one of samples, span_fraction and seconds")
        quotient = self.seconds / step
        whole = round(quotient)
        return (
            int(whole) if abs(quotient - whole) <= _WHOLE_TOLERANCE * max(1.0, abs(quotient)) else math.ceil(quotient)
        )

    def parameter(self):
        """The value reported in a run's parameters: samples as a number, else the text."""
        return self.samples if self.samples is not None else self.text


def parse_min_gap(value) -> MinGap:
    """``min_gap`` (``--min-gap``) as a :class:`MinGap`.

    Accepts a whole number of samples (``10``, or an int), a fraction of the span
    (``0.25span``), or a time (``250ms``, ``0.3s``, ``2min``, ``1h``, ``1d``). Errors name
    ``min_gap`` (the command line shows ``--min-gap``).
    """
    if isinstance(value, MinGap):
        return value
    if isinstance(value, bool):
        raise MotifscanError(
            f"min_gap must be a number of samples, a fraction of the span (0.25span) or a time (250ms), got {value!r}",
            ("min_gap",),
        )
    if not isinstance(value, str):
        return MinGap(samples=check_integer("min_gap", value, minimum=0), text=str(value))
    text = value.strip()
    match = _GAP_FORM.match(text)
    if match is None:
        raise MotifscanError(
            "min_gap must be a number of samples (10), a fraction of the span (0.25span) "
            f"or a time (250ms, 0.3s, 2min, 1h, 1d), got {value!r}",
            ("min_gap",),
        )
    number, unit = match.groups()
    if unit is None:
        return MinGap(samples=check_integer("min_gap", number, minimum=0), text=number)
    if unit == "span":
        return MinGap(span_fraction=Fraction(number), text=f"{number}span")
    seconds = float(number) * TIME_UNITS[unit]
    if not math.isfinite(seconds):
        raise MotifscanError(f"min_gap must be a finite time, got {value!r}", ("min_gap",))
    return MinGap(seconds=seconds, text=f"{number}{unit}")


def check_number(name: str, value, *, minimum: float, inclusive: bool = True) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MotifscanError(f"{name}: {value!r} is not a number", (name,)) from None
    too_small = number < minimum if inclusive else number <= minimum
    if not math.isfinite(number) or too_small:
        relation = "at least" if inclusive else "greater than"
        raise MotifscanError(f"{name} must be a finite number {relation} {minimum:g}, got {value}", (name,))
    return number


#: The largest whole number an option takes: positions and counts are int64 in the scans.
MAX_INTEGER = 2**62


def check_integer(name: str, value, *, minimum: int, maximum: int = MAX_INTEGER) -> int:
    whole = whole_number(value)
    if whole is None:
        raise MotifscanError(f"{name} must be a whole number, got {value!r}", (name,))
    if whole < minimum:
        raise MotifscanError(f"{name} must be at least {minimum}, got {value}", (name,))
    if whole > maximum:
        raise MotifscanError(f"{name} must be at most {maximum}, got {value}", (name,))
    return whole


def whole_number(value) -> int | None:
    """``value`` as an int when it is a whole number (``3``, ``"3"``, ``3.0``, ``"1e2"``), else None."""
    if isinstance(value, bool):
        return None
    if hasattr(value, "__index__"):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass  # "1e2", "3.0": read as a number below
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() else None


def parse_dilations(value) -> tuple[int, ...]:
    """``--dilation`` as a sorted tuple of distinct dilations.

    Accepts an int, a sequence of ints, or text: ``3``, a list ``1,2,4`` or a range
    ``1..8`` (both ends included; items of a list may be ranges too: ``1..3,6``).
    """
    if isinstance(value, str):
        values: list[int] = []
        for item in value.split(","):
            item = item.strip()
            if ".." in item:
                low_text, _, high_text = item.partition("..")
                if not low_text.strip() or not high_text.strip():
                    raise MotifscanError(
                        f"dilation: the range {item!r} needs both ends (write LOW..HIGH)", ("dilation",)
                    )
                low = check_integer("dilation", low_text.strip(), minimum=1)
                high = check_integer("dilation", high_text.strip(), minimum=1)
                if high < low:
                    raise MotifscanError(f"dilation: the range {item} is empty (write LOW..HIGH)", ("dilation",))
                values += range(low, high + 1)
            elif not item:
                raise MotifscanError(f"dilation: empty item in {value!r}", ("dilation",))
            else:
                values.append(check_integer("dilation", item, minimum=1))
    elif isinstance(value, (int, float)) or hasattr(value, "__index__"):
        values = [check_integer("dilation", value, minimum=1)]
    else:
        try:
            values = [check_integer("dilation", v, minimum=1) for v in value]
        except TypeError:
            raise MotifscanError(
                f"dilation must be a whole number, a list or a range, got {value!r}", ("dilation",)
            ) from None
    if not values:
        raise MotifscanError("dilation: no dilation given", ("dilation",))
    return tuple(sorted(set(values)))
