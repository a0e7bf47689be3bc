"""``--state FILE``: what earlier runs have read, so that the next one reads only new data.

The state is a small JSON file. For each input it keeps how many rows were read and, for an
uncompressed text file, the byte offset after the last whole line read plus the last
``span - 1`` rows (the windows that straddle the old end still need them). A run goes on
from there: a text file is read from that offset, anything else (gzip, Parquet, datasets)
is read again with the rows already done dropped, and only when its size or modification
time changed. Motifs found before the old end were reported by the run that read it; a new
motif closer than ``min_gap`` to the last one reported in its channel is not reported, so
no motif is ever reported twice and reported motifs never overlap.

A file that shrank or whose first bytes changed (a rotated log) is read from the start.
Every run over a state holds an exclusive lock (``fcntl.flock`` on ``FILE.lock``), so two
overlapping runs never interleave: the second waits, then reads only what the first left.
The state is replaced atomically, after the output was written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from motifscan.errors import MotifscanError
from motifscan.io.signals import SignalBlock, byte_resumable, complete_lines_end, is_parquet_dataset

STATE_FORMAT = "motifscan-state"
STATE_VERSION = 1
# Bytes at the start of a file that identify it: when they change, the file was replaced.
HEAD_BYTES = 1024


@dataclass
class Resume:
    """Where a run goes on in one input.

    Attributes
    ----------
    first_row : int
        Global index of the first row this run scans.
    byte_range : (int, int) or None
        For a text file: the bytes to read (whole lines only).
    carry : SignalBlock or None
        For a text file: rows ``first_row ..`` that an earlier run read, kept in the state.
    skip_rows : int
        For other inputs: rows to drop from the start (``== first_row``).
    last_starts : dict
        Channel -> start of the last motif reported in it.
    fingerprint : dict
        Size, modification time and first bytes of the input, as read now.
    """

    first_row: int = 0
    byte_range: tuple | None = None
    carry: SignalBlock | None = None
    skip_rows: int = 0
    last_starts: dict = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)


def _parts(path: str) -> list[str]:
    if os.path.isdir(path):
        from motifscan.io.signals import parquet_dataset_files

        return parquet_dataset_files(path) if is_parquet_dataset(path) else []
    return [path]


def fingerprint(path: str, head_bytes: int = HEAD_BYTES) -> dict:
    """Size, newest modification time and a hash of the first ``head_bytes`` bytes of ``path``."""
    parts = _parts(path)
    stats = [os.stat(part) for part in parts]
    digest = hashlib.sha256()
    if parts:
        with open(parts[0], "rb") as raw:
            head = raw.read(head_bytes)
        digest.update(head)
        head_bytes = len(head)
    return {
        "size": sum(info.st_size for info in stats),
        "mtime_ns": max((info.st_mtime_ns for info in stats), default=0),
        "head_bytes": head_bytes,
        "head_sha256": digest.hexdigest(),
    }


def _encode_block(block: SignalBlock) -> dict:
    time = block.time
    encoded_time = None
    if time is not None:
        if time.dtype.kind == "M":
            unit = np.datetime_data(time.dtype)[0]
            encoded_time = {"unit": unit, "values": time.astype(np.int64).tolist()}
        else:
            encoded_time = {"unit": None, "values": time.tolist()}
    # json writes NaN and Infinity for non-finite floats and reads them back.
    return {"channels": {name: values.tolist() for name, values in block.channels.items()},
            "time": encoded_time}


def _decode_block(data: dict) -> SignalBlock:
    channels = {name: np.asarray(values, dtype=np.float64) for name, values in data["channels"].items()}
    time = data.get("time")
    if time is not None:
        values = np.asarray(time["values"], dtype=np.int64 if time["unit"] else np.float64)
        time = values.astype(f"datetime64[{time['unit']}]") if time["unit"] else values
    return SignalBlock(channels, time)


class StateFile:
    """An open, locked state file. Use :meth:`open` as a context manager.

    Parameters
    ----------
    path : str
        The state file.
    parameters : dict
        Everything that decides which motifs an input has (kernel, p, threshold, columns,
        ...). A state written with other parameters is refused: its offsets would skip
        data never scanned with the new ones.
    span, gap : int
        Of the run's kernel (rows carried over) and its ``min_gap``.
    """

    def __init__(self, path: str, parameters: dict, span: int, gap: int):
        self.path = path
        self.parameters = json.loads(json.dumps(parameters))
        self.keep = span - 1
        self.gap = gap
        self.files: dict = {}

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str, parameters: dict, span: int, gap: int,
             on_wait: Callable[[], None] | None = None):
        """Lock ``path`` (waiting for another run to finish with it), load it, yield it."""
        import fcntl

        from motifscan.io.output import check_target

        state = cls(path, parameters, span, gap)
        check_target(path, "--state")
        try:
            lock = os.open(path + ".lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as error:
            raise MotifscanError(f"--state: cannot create {path}.lock ({error.strerror})") from None
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(lock, fcntl.LOCK_EX)
            state._load()
            yield state
        finally:
            os.close(lock)  # releases the lock

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as stream:
                text = stream.read()
        except FileNotFoundError:
            return
        except OSError as error:
            raise MotifscanError(f"--state: cannot read {self.path} ({error.strerror})") from None
        try:
            document = json.loads(text)
            valid = document.get("format") == STATE_FORMAT and isinstance(document.get("files"), dict)
        except (ValueError, AttributeError):
            valid = False
        if not valid:
            raise MotifscanError(f"--state: {self.path} is not a motifscan state file")
        if document.get("version") != STATE_VERSION:
            raise MotifscanError(f"--state: {self.path} has version {document.get('version')}, "
                                 f"this motifscan reads version {STATE_VERSION}")
        if document.get("parameters") != self.parameters:
            stored = document.get("parameters") or {}
            changed = sorted(key for key in set(stored) | set(self.parameters)
                             if stored.get(key) != self.parameters.get(key))
            raise MotifscanError(
                f"--state: {self.path} was written with other parameters ({', '.join(changed)}); "
                f"use a new state file for them")
        self.files = document["files"]

    def plan(self, name: str) -> Resume | None:
        """Where to go on in input ``name``; None when it has nothing new."""
        key = os.path.abspath(name)
        entry = self.files.get(key)
        try:
            current = fingerprint(name)
        except OSError:
            return Resume()  # reading it will report the problem
        if entry is not None:
            # The hash of the same head as before: the one just taken unless the file was
            # shorter than HEAD_BYTES then.
            stored_head = entry["fingerprint"]["head_bytes"]
            head = current if stored_head == current["head_bytes"] else fingerprint(name, stored_head)
            replaced = (head["head_sha256"] != entry["fingerprint"]["head_sha256"]
                        or current["size"] < entry["fingerprint"]["size"])
            if replaced:
                entry = None
        if byte_resumable(name):
            start = 0 if entry is None else entry["offset"]
            end = complete_lines_end(name, current["size"])
            if end <= start:
                return None
            if entry is None:
                return Resume(byte_range=(0, end), fingerprint=current)
            carry = _decode_block(entry["tail"])
            return Resume(first_row=entry["rows"] - carry.rows, byte_range=(start, end), carry=carry,
                          last_starts=dict(entry["last"]), fingerprint=current)
        if entry is None:
            return Resume(fingerprint=current)
        if (current["size"], current["mtime_ns"]) == (entry["fingerprint"]["size"], entry["fingerprint"]["mtime_ns"]):
            return None
        first = max(entry["rows"] - self.keep, 0)
        return Resume(first_row=first, skip_rows=first, last_starts=dict(entry["last"]), fingerprint=current)

    def keep_new(self, motifs: list, resume: Resume) -> list:
        """The motifs not closer than ``min_gap`` to the last one reported in their channel."""
        last = resume.last_starts
        return [m for m in motifs if m.channel not in last or m.start - last[m.channel] >= self.gap]

    def record(self, name: str, resume: Resume, summary, motifs: list) -> None:
        """Remember that ``name`` was read up to the end of this run."""
        last = dict(resume.last_starts)
        for motif in motifs:
            last[motif.channel] = max(motif.start, last.get(motif.channel, motif.start))
        entry = {"rows": resume.first_row + summary.samples, "fingerprint": resume.fingerprint, "last": last}
        if resume.byte_range is not None:
            entry["offset"] = resume.byte_range[1]
            entry["tail"] = _encode_block(summary.tail)
            # The fingerprint's size is how far this run read, so that growth is seen.
            entry["fingerprint"] = dict(resume.fingerprint, size=resume.byte_range[1])
        self.files[os.path.abspath(name)] = entry

    def save(self) -> None:
        """Write the state atomically (a temporary file renamed into place), forgetting
        inputs that no longer exist."""
        from motifscan.io.output import open_output

        files = {key: entry for key, entry in self.files.items() if os.path.exists(key)}
        document = {"format": STATE_FORMAT, "version": STATE_VERSION, "parameters": self.parameters,
                    "files": files}
        with open_output(self.path, option="--state") as stream:
            json.dump(document, stream, indent=1)
            stream.write("\n")
