"""How a run over many inputs is carried out: batch jobs, live logs and clusters
(:class:`BatchConfig`). None of it changes a motif.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from motifscan.config import DetectConfig
from motifscan.errors import MotifscanError
from motifscan.option_values import check_integer


def _check_size(name: str, value) -> int:
    text = str(value).strip().upper()
    factor = 1
    if text[-1:] in ("K", "M", "G"):
        factor = 1024 ** ("KMG".index(text[-1]) + 1)
        text = text[:-1]
    try:
        number = float(text)
    except ValueError:
        raise MotifscanError(f"{name} must be a number of bytes such as 268435456 or 256M, got {value!r}") from None
    if not math.isfinite(number) or number * factor < 1:
        raise MotifscanError(f"{name} must be at least 1 byte, got {value!r}")
    return int(number * factor)


@dataclass(frozen=True)
class BatchConfig:
    """How the inputs of a ``detect`` run are processed.

    Attributes
    ----------
    jobs : int
        Inputs processed in parallel by worker processes, >= 1.
    state : str or None
        State file remembering what earlier runs read (``--state``).
    output : str or None
        Where the motifs go (None or ``-``: stdout).
    append : bool
        Append to ``output`` instead of replacing it.
    follow : bool
        Follow the one input like ``tail -f`` (``--follow``).
    dask : str or None
        ``"local"`` or the address of a Dask scheduler to run the work on (``--dask``).
    split_bytes : int or None
        With ``dask``, inputs larger than this many bytes are split into ranges
        (``--split-bytes``; a number with an optional K, M or G suffix, powers of 1024).
    plot : str or None
        Where to draw the run's figure (``--plot``): one whole input scanned here.
    """

    jobs: int = 1
    state: str | None = None
    output: str | None = None
    append: bool = False
    follow: bool = False
    dask: str | None = None
    split_bytes: int | str | None = None
    plot: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "jobs", check_integer("--jobs", self.jobs, minimum=1))
        if self.dask is not None and not str(self.dask).strip():
            raise MotifscanError("--dask needs a scheduler address or local")
        if self.split_bytes is not None:
            if self.dask is None:
                raise MotifscanError("--split-bytes only applies with --dask")
            object.__setattr__(self, "split_bytes", _check_size("--split-bytes", self.split_bytes))
        if self.append and self.output in (None, "-"):
            raise MotifscanError("--append needs --output FILE")
        if self.state is not None and self.state in ("", "-"):
            raise MotifscanError(f"--state must name a file, got {self.state!r}")
        if self.plot is not None and self.state is not None:
            raise MotifscanError("--plot draws one whole input, not the new part that --state reads")
        if self.plot is not None and self.follow:
            raise MotifscanError("--plot draws one whole input, but --follow never ends")
        if self.plot is not None and self.dask is not None:
            raise MotifscanError("--plot draws the scores of this machine's scan, not a cluster's")

    def check_format(self, fmt: str, config: DetectConfig) -> None:
        """Refuse combinations that cannot work with the output format or the detection."""
        if self.follow and fmt not in ("jsonl", "csv"):
            raise MotifscanError(f"--follow never ends, so it writes jsonl or csv, not {fmt}")
        if self.follow and self.output not in (None, "-"):
            raise MotifscanError("--follow writes to stdout: --output is renamed into place only at the end")
        if self.follow and config.top is not None:
            raise MotifscanError("--top waits for the end of the input, which --follow never reaches")
        if self.append and fmt == "json":
            raise MotifscanError("--append cannot add to a JSON document; use --format jsonl or csv")
        if self.state is not None and config.fill != "none":
            raise MotifscanError(
                "--fill with --state: a gap open at the end of one run cannot be held back "
                "for the next; fill the data first or run without --state"
            )
        if self.state is not None and config.min_channels is not None:
            raise MotifscanError(
                "--min-channels with --state: which channels a waiting candidate was scored on "
                "is not kept in the state yet; run without --state"
            )
        if self.dask is not None and config.fill != "none":
            raise MotifscanError("--fill with --dask: a gap across two byte ranges cannot be filled in either")
        if self.state is not None and config.method == "conv":
            raise MotifscanError(
                "--method conv cannot be combined with --state: its threshold is "
                "relative to the strongest activation of the whole signal"
            )
        if self.dask is not None and (
            len(config.kernels) > 1 or len(config.dilations) > 1 or config.joint or config.noise_floor == "auto"
        ):
            raise MotifscanError("--dask scans one kernel at one dilation (no --joint, no --noise-floor auto)")
        if config.parsed_min_gap.is_time and (self.state is not None or self.dask is not None):
            raise MotifscanError(
                f"--min-gap {config.parsed_min_gap.text}: a time is converted with the sampling step of "
                "the whole input, which --state and --dask runs do not see; give samples "
                "or a fraction of the span"
            )
        if self.state is not None and config.top is not None:
            raise MotifscanError(
                "--top cannot be combined with --state: the strongest of new data only is rarely what is meant"
            )
