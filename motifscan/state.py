"""``--state FILE``: what earlier runs have read and not yet decided, so that the next one
goes on exactly where they stopped.

The state is a small JSON file (format ``motifscan-state``, version 2, checked against the
schema below when read). For each input it keeps how many rows were read, the last
``span - 1`` rows (the windows that straddle the old end still need them) and what the
detector has not decided yet: the candidates of a cluster that later rows may still
change (a stronger neighbour within ``min_gap``) and the accepted motifs that still reach
into it. A run goes on from there with the scanner and the detectors in the state they were
left in, so the runs over a growing file report, together, exactly the motifs of one run
over the whole file; the motifs near the end that later rows could still change wait in
the state until they are final (the run says how many wait). A noise-adaptive threshold
(``--threshold mad:K`` or ``fa:RATE``) is kept once the run that completed its reference
stretch decided it, and reused as it is; until then the tail holds every row read, so the
stretch is scored once, whole. For an uncompressed text file
the state also keeps the byte offset after the last whole line read, and the file is read
from there; anything else (gzip, Parquet, datasets) is read again with the rows already
done dropped, and only when its size or modification time changed.

An input counts as replaced (a rotated log), and is read from the start, when it shrank,
its first bytes changed, or, for a text log, when it is another file (device and inode) or
the bytes before the old offset changed: a long CSV header or a constant preamble that the
new file shares with the old one does not make it the old one.

Every run over a state holds an exclusive lock (``fcntl.flock`` on ``FILE.lock``), so two
overlapping runs never interleave: the second waits, then reads only what the first left.

With ``--output FILE`` the output and the state are one commit: the new output is written
to a temporary file, then the state is written with the bytes it adds and the identity
(device, inode) of that file, then the file is renamed into place. A run that finds its
state naming an output that did not get into place (a kill between the two renames) writes
those bytes first. So no kill at any step loses or repeats a motif.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from typing import Callable


from motifscan.errors import MotifscanError
from motifscan.signal import SignalBlock
from motifscan.io.csv_blocks import byte_resumable, complete_lines_end
from motifscan.io.parquet import is_parquet_dataset
from motifscan.state_schema import (
    InvalidState,
    check_entry,
    check_output,
    encode_block,
    encode_undecided,
    json_object,
    need,
)

STATE_FORMAT = "motifscan-state"
STATE_VERSION = 2
# Bytes at the start of a file that identify it: when they change, the file was replaced.
HEAD_BYTES = 1024
# Bytes before a text log's offset that must be unchanged for the log to be the one read.
END_BYTES = 4096


@dataclass
class Resume:
    """Where a run goes on in one input.

    Attributes
    ----------
    first_row : int
        Global index of the first row this run scans (the first carried row).
    byte_range : (int, int) or None
        For a text file: the bytes to read (whole lines only).
    carry : SignalBlock or None
        The rows ``first_row ..`` that an earlier run read, kept in the state.
    skip_rows : int
        For other inputs: rows to drop from the start (those read before).
    undecided : motifscan.pipeline.Undecided or None
        What the earlier run left undecided.
    fingerprint : dict
        Size, modification time, identity and first bytes of the input, as read now.
    state_path : str
        The state file (named in messages about what it holds).
    """

    first_row: int = 0
    byte_range: tuple | None = None
    carry: SignalBlock | None = None
    skip_rows: int = 0
    undecided: object = None
    fingerprint: dict | None = None
    state_path: str = ""

    def check_source(self, source) -> None:
        """Raise unless the carried rows fit ``source`` (same channels, a time column or not)."""
        if self.carry is None or self.carry.rows == 0:
            # Nothing kept (a file of only its header so far): nothing to fit; a time column
            # may not have been recognised without rows.
            self.carry = None
            return
        if set(self.carry.channels) != set(source.channels) or (
            (self.carry.time is None) != (source.time_column is None)
        ):
            raise MotifscanError(
                f"--state: {self.state_path}: the rows kept for {source.name} have columns "
                f"{', '.join(self.carry.channels) or 'none'}, the file has {', '.join(source.channels)}; "
                f"use a new state file"
            )


def _parts(path: str) -> list[str]:
    if os.path.isdir(path):
        from motifscan.io.parquet import parquet_dataset_files

        return parquet_dataset_files(path) if is_parquet_dataset(path) else []
    return [path]


def _sha256(path: str, start: int, end: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        raw.seek(start)
        digest.update(raw.read(max(end - start, 0)))
    return digest.hexdigest()


def fingerprint(path: str, head_bytes: int = HEAD_BYTES) -> dict:
    """Size, newest modification time, identity (device and inode of the first part) and a
    hash of the first ``head_bytes`` bytes of ``path``."""
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
        "device": stats[0].st_dev if stats else 0,
        "inode": stats[0].st_ino if stats else 0,
        "head_bytes": head_bytes,
        "head_sha256": digest.hexdigest(),
    }


# --------------------------------------------------------------------------------------
# The state file


def _reached(step: str) -> None:
    """Called at each step of the output + state commit (a test kills the process here)."""


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
    """

    def __init__(self, path: str, parameters: dict):
        self.path = path
        self.parameters = json.loads(json.dumps(parameters))
        self.files: dict = {}
        #: The output this state's last run committed: path, identity and the bytes it added.
        self.output: dict | None = None

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str, parameters: dict, on_wait: Callable[[], None] | None = None):
        """Lock ``path`` (waiting for another run to finish with it), load it, yield it."""
        from motifscan.io.files import check_target, locked

        state = cls(path, parameters)
        check_target(path, "--state")
        # A FIFO or a device is refused before anything waits on it (opening a FIFO blocks
        # until a writer comes, and it would hold the lock meanwhile); the lock file is
        # checked the same way by locked().
        state._check_regular(path)
        state._check_regular(path + ".lock")
        with locked(path, "--state", on_wait):
            state._load()
            yield state

    @staticmethod
    def _check_regular(path: str) -> None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return
        except OSError as error:
            raise MotifscanError(f"--state: cannot read {path} ({error.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise MotifscanError(
                f"--state: {path} is not a regular file (a FIFO, device or socket cannot hold a state)"
            )

    def _load(self) -> None:
        try:
            # O_NONBLOCK: should a FIFO have taken the name since the check, do not wait for it.
            descriptor = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return
        except OSError as error:
            raise MotifscanError(f"--state: cannot read {self.path} ({error.strerror})") from None
        with open(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise MotifscanError(f"--state: {self.path} is not a regular file")
            data = stream.read()
        try:
            document = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            raise MotifscanError(
                f"--state: {self.path} is not a motifscan state file (not JSON, or cut short)"
            ) from None
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise MotifscanError(f"--state: {self.path} is not a motifscan state file")
        if document.get("version") != STATE_VERSION:
            raise MotifscanError(
                f"--state: {self.path} has version {json.dumps(document.get('version'))}, "
                f"this motifscan reads version {STATE_VERSION}; use a new state file"
            )
        if document.get("parameters") != self.parameters:
            stored = document.get("parameters")
            stored = stored if isinstance(stored, dict) else {}
            changed = sorted(
                key for key in set(stored) | set(self.parameters) if stored.get(key) != self.parameters.get(key)
            )
            raise MotifscanError(
                f"--state: {self.path} was written with other parameters ({', '.join(changed)}); "
                f"use a new state file for them"
            )
        try:
            json_object(document, "the state", ("format", "version", "parameters", "files", "output"))
            need(isinstance(document["files"], dict), "files must be an object")
            with_distance = self.parameters.get("normalize") == "zscore"
            self.files = {
                key: check_entry(entry, f"files[{json.dumps(key)}]", with_distance)
                for key, entry in document["files"].items()
            }
            self.output = check_output(document["output"], "output")
        except InvalidState as problem:
            raise MotifscanError(f"--state: {self.path}: {problem}") from None

    def plan(self, name: str) -> Resume | None:
        """Where to go on in input ``name``; None when it has nothing new."""
        key = os.path.abspath(name)
        entry = self.files.get(key)
        try:
            current = fingerprint(name)
        except OSError:
            return Resume(state_path=self.path)  # reading it will report the problem
        resumable = byte_resumable(name)
        if entry is not None and self._replaced(name, entry, current, resumable):
            entry = None
        if entry is not None:
            entry["undecided"].origin = self.path
        if resumable:
            start = 0 if entry is None else entry["offset"]
            end = complete_lines_end(name, current["size"])
            if end <= start:
                return None
            if entry is None:
                return Resume(byte_range=(0, end), fingerprint=current, state_path=self.path)
            carry = entry["tail"]
            return Resume(
                first_row=entry["rows"] - carry.rows,
                byte_range=(start, end),
                carry=carry,
                undecided=entry["undecided"],
                fingerprint=current,
                state_path=self.path,
            )
        if entry is None:
            return Resume(fingerprint=current, state_path=self.path)
        if (current["size"], current["mtime_ns"]) == (entry["fingerprint"]["size"], entry["fingerprint"]["mtime_ns"]):
            return None
        carry = entry["tail"]
        return Resume(
            first_row=entry["rows"] - carry.rows,
            skip_rows=entry["rows"],
            carry=carry,
            undecided=entry["undecided"],
            fingerprint=current,
            state_path=self.path,
        )

    @staticmethod
    def _replaced(name: str, entry: dict, current: dict, resumable: bool) -> bool:
        """Whether ``name`` is no longer the file ``entry`` describes (a rotated log)."""
        stored = entry["fingerprint"]
        if current["size"] < stored["size"]:
            return True
        # The hash of the same head as before: the one just taken unless the file was
        # shorter than HEAD_BYTES then.
        head = current if stored["head_bytes"] == current["head_bytes"] else fingerprint(name, stored["head_bytes"])
        if head["head_sha256"] != stored["head_sha256"]:
            return True
        if not resumable:
            return False
        # A text log: another file at the name (mv log log.1 && touch log, logrotate) is a
        # new log, whatever its first bytes; the same file rewritten in place is one when the
        # bytes just before the old offset changed (a long CSV header or a constant preamble
        # shared by the old and the new log hides nothing here).
        if (current["device"], current["inode"]) != (stored["device"], stored["inode"]):
            return True
        offset = entry["offset"]
        return _sha256(name, max(0, offset - END_BYTES), offset) != stored["end_sha256"]

    def record(self, name: str, resume: Resume, summary, undecided) -> None:
        """Remember that ``name`` was read up to the end of this run, with what it left
        undecided."""
        entry = {
            "rows": resume.first_row + summary.samples,
            "fingerprint": resume.fingerprint,
            "tail": summary.tail,
            "undecided": undecided,
        }
        if resume.byte_range is not None:
            end = resume.byte_range[1]
            entry["offset"] = end
            # The fingerprint's size is how far this run read, so that growth is seen.
            entry["fingerprint"] = dict(
                resume.fingerprint or {}, size=end, end_sha256=_sha256(name, max(0, end - END_BYTES), end)
            )
        self.files[os.path.abspath(name)] = entry

    def _document(self) -> dict:
        files = {}
        for key, entry in self.files.items():
            if not os.path.exists(key):  # forget inputs that no longer exist
                continue
            files[key] = dict(entry, tail=encode_block(entry["tail"]), undecided=encode_undecided(entry["undecided"]))
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "parameters": self.parameters,
            "files": files,
            "output": self.output,
        }

    def save(self) -> None:
        """Write the state atomically (a temporary file renamed into place)."""
        from motifscan.io.files import open_output

        document = self._document()
        with open_output(self.path, option="--state") as stream:
            json.dump(document, stream, indent=1)
            stream.write("\n")

    # ----------------------------------------------------------------------------------
    # Output + state in one commit

    def unfinished_output(self, path: str | None) -> tuple[str | None, str]:
        """What the last run over this state added to the output ``path`` and is not there
        (it was killed after writing the state, before its output got into place): the CSV
        header (None for JSON Lines) and the motif lines; ``(None, "")`` when nothing is
        missing.

        The output got into place when the file at ``path`` is the one the state names
        (device and inode: a rename keeps them)."""
        output = self.output
        if output is None or path in (None, "-") or not output["pending"]:
            return None, ""
        if os.path.abspath(path) != output["path"]:
            return None, ""
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return output["header"], output["pending"]
        except OSError:
            return None, ""  # writing the output reports the problem
        if (info.st_dev, info.st_ino) == (output["device"], output["inode"]):
            return None, ""
        return output["header"], output["pending"]

    def output_in_place(self) -> None:
        """Called once the output committed by :meth:`commit_before_rename` is in place:
        nothing is left to do (the state already names it), which a kill here checks."""
        _reached("output-renamed")

    def commit_before_rename(self, path: str, fmt: str, temporary: str, previous_bytes: int) -> None:
        """Save the state, naming the output file about to be renamed to ``path`` and the
        motif lines it adds after the ``previous_bytes`` of the old output (given to
        :func:`motifscan.io.files.open_output` as ``before_replace``)."""
        _reached("output-written")
        with open(temporary, "rb") as stream:
            header = stream.readline().decode("utf-8").rstrip("\r\n") if fmt == "csv" else None
            stream.seek(previous_bytes)
            added = stream.read().decode("utf-8")
            info = os.fstat(stream.fileno())
        if header is not None and previous_bytes == 0:
            added = added.partition("\n")[2]  # the header is kept on its own
        self.output = {
            "path": os.path.abspath(path),
            "device": info.st_dev,
            "inode": info.st_ino,
            "header": header,
            "pending": added,
        }
        self.save()
        _reached("state-saved")
