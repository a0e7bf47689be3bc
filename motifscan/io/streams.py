"""Byte streams that cannot be read twice or never end: standard input (live, so a pipeline
sees motifs as lines arrive), a followed file (``--follow``) and the replay of an input's
first MiB after its layout was decided from it.
"""

from __future__ import annotations

import io
import os
import select
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, IO, Protocol

from motifscan.errors import MotifscanError
from motifscan.io.columns import INFERENCE_BYTES, MAX_FIRST_LINE_BYTES, _os_reason


STDIN_NAME = "<stdin>"
# How long to wait for more piped input before deciding types from what has arrived, so
# that `tail -f log.csv | motifscan detect -` starts without waiting for a full MiB.
LIVE_INPUT_WAIT_S = 0.05
# Recent stdin bytes kept to name the line of a bad cell, since stdin cannot be re-read.
MIN_STDIN_ERROR_WINDOW_BYTES = 8 << 20


class _ByteReader(Protocol):
    """What the stream readers need of an input: a file, stdin, a followed file, gzip or a
    :class:`_ReplayStream` over one of them."""

    def read(self, size: int = -1, /) -> bytes: ...

    def fileno(self) -> int: ...

    # gzip.GzipFile's file object type asks for it (a pipe's raises).
    def seek(self, offset: int, whence: int = 0, /) -> int: ...


def _always_ready(timeout: float = 0.0) -> bool:
    """The readiness probe of an input that never blocks (in memory, or a regular file)."""
    return True


def _stdin_binary() -> IO[bytes]:
    stdin = sys.stdin
    if stdin is None:
        raise MotifscanError(f"{STDIN_NAME}: no standard input")
    binary = getattr(stdin, "buffer", None)
    if binary is not None:
        return binary
    # A text-only stand-in for stdin (some embedding tools) has no byte layer.
    return io.BytesIO(stdin.read().encode("utf-8"))


def _readiness_probe(stream: _ByteReader) -> Callable[[float], bool]:
    """Return ``more_ready(timeout)``: whether more input can be read without blocking."""
    if isinstance(stream, _FollowedFile):
        return stream.more_ready
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        # In-memory streams never block: always read on.
        return _always_ready

    def more_ready(timeout: float = 0.0) -> bool:
        try:
            return bool(select.select([descriptor], [], [], timeout)[0])
        except (OSError, ValueError):
            # select() does not support this descriptor (e.g. a Windows pipe): block.
            return True

    return more_ready


def _read_available(stream: _ByteReader, size: int, more_ready: Callable[[float], bool]) -> bytes:
    """Read up to ``size`` bytes: block for the first, then take only what is already there.

    A live pipe thus hands pyarrow what has arrived instead of waiting for a full block,
    while a fast pipe still gives large reads.
    """
    read_some = getattr(stream, "read1", None) or stream.read
    chunk = read_some(size)
    if not chunk or len(chunk) >= size:
        return chunk
    parts = [chunk]
    received = len(chunk)
    while received < size and more_ready(0.0):
        more = read_some(size - received)
        if not more:
            break
        parts.append(more)
        received += len(more)
    return b"".join(parts)


#: How often a followed file is checked for new lines.
FOLLOW_POLL_S = 0.1


class _CtrlCStop(KeyboardInterrupt):
    """Ctrl-C during a live stream's blocking read: the stream ends there, as if its input
    had ended (a KeyboardInterrupt anywhere else, so it still stops a run if it escapes)."""


class _LiveStop:
    """Ctrl-C on a live stream (stdin, a pipe, ``--follow``): stop reading, decide what was
    read, and let the caller exit with 130.

    A live run is ended by Ctrl-C, so Ctrl-C must not lose what the run has read: the
    motif still waiting for more samples is decided and written. While the live reader
    runs in the main thread, SIGINT sets :attr:`requested`; if the reader is blocked in a
    read, the read is broken off (:class:`_CtrlCStop`), else the reader stops before its
    next read. The stream then ends like a closed pipe. A second Ctrl-C interrupts at once.
    """

    requested = False  # Ctrl-C ended a live stream
    reading = False  # the live reader is in a blocking read

    @classmethod
    def on_sigint(cls, signum, frame) -> None:
        if cls.requested:
            raise KeyboardInterrupt
        cls.requested = True
        if cls.reading:
            raise _CtrlCStop

    @classmethod
    def installed(cls):
        """A context in which SIGINT ends the live stream (main thread only; elsewhere,
        and for a handler someone else installed, Ctrl-C keeps its usual meaning)."""
        import contextlib
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return contextlib.nullcontext()
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def installed():
            signal.signal(signal.SIGINT, cls.on_sigint)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, previous)

        return installed()

    @classmethod
    def read(cls, stream: IO[bytes], size: int) -> bytes | None:
        """``stream.read(size)``, or None once Ctrl-C ended the stream."""
        if cls.requested:
            return None
        try:
            cls.reading = True
            return stream.read(size)
        except _CtrlCStop:
            return None
        finally:
            cls.reading = False


def stream_interrupted() -> bool:
    """Whether Ctrl-C ended a live stream of this process (stdin, a pipe or ``--follow``):
    what was read before it has been decided, and the command should exit with 130."""
    return _LiveStop.requested


class _FollowedFile(io.RawIOBase):
    """A file followed by name like ``tail -F``: at its end, wait for it to grow instead of
    ending; when the name comes to stand for another file (``mv log log.1 && touch log``),
    read the old one to its end and go on with the new one from its start; when the file
    is truncated, also when it is truncated and grown again past where it was read before
    the next look (found by the bytes just before the read position no longer being those
    read there), go on from its new start.

    Either way the signal goes on (positions keep counting), a new start that repeats the
    header lines of the first file has them dropped, and ``on_notice`` gets one line
    saying what happened.
    """

    #: How many bytes just before the read position are kept and checked at each read.
    CHECK_BYTES = 64

    def __init__(
        self, path: str, name: str, poll_s: float = FOLLOW_POLL_S, on_notice: Callable[[str], None] | None = None
    ):
        super().__init__()
        self._path = path
        self._name = name
        self._poll_s = poll_s
        self._notice = on_notice or (lambda message: None)
        self._file = self._open()
        self._position = 0  # bytes of the current file read
        self._before = b""  # the last CHECK_BYTES bytes read from the current file
        self._header = b""  # lines at the start of the first file that a new start repeats
        self._new_start = False  # at the start of a new or truncated file
        self._pending = b""  # a newline that ends the old file's unfinished last line
        self.rotations = 0
        self.truncations = 0

    def _open(self):
        try:
            return open(self._path, "rb", buffering=0)
        except OSError as exc:
            raise MotifscanError(f"{self._name}: cannot open ({_os_reason(exc)})") from None

    def set_header_lines(self, lines: int) -> None:
        """Drop these first lines (the header) where a new or truncated file repeats them."""
        if lines <= 0:
            return
        head = os.pread(self._file.fileno(), INFERENCE_BYTES, 0)
        cut = 0
        for _ in range(lines):
            cut = head.find(b"\n", cut) + 1
            if not cut:
                return
        self._header = head[:cut]

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = size if size is not None and size > 0 else 1 << 16
        while True:
            if self._pending:
                data, self._pending = self._pending[:size], self._pending[size:]
                return data
            if self._available() > 0:
                data = self._read_checked(size)
                if data:
                    return data
                continue  # the file was rewritten under the read: read its new start
            time.sleep(self._poll_s)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def more_ready(self, timeout: float = 0.0) -> bool:
        """Whether bytes not read yet are there, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self._pending or self._available() > 0:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self._poll_s, left))

    def _available(self) -> int:
        """Bytes the current file holds past the read position, after going over to a
        truncated file's new start or to the file now at the name."""
        size = os.fstat(self._file.fileno()).st_size
        if size < self._position:
            self._restart(f"{self._name}: the file was truncated; reading it again from its start")
            size = os.fstat(self._file.fileno()).st_size
        elif size == self._position and self._replaced():
            self._switch()
            size = os.fstat(self._file.fileno()).st_size
        if self._new_start and self._header:
            self._skip_repeated_header(size)
        return size - self._position if not (self._new_start and self._header) else 0

    def _replaced(self) -> bool:
        """Whether the name now stands for another file (a missing name is not yet one)."""
        try:
            now = os.stat(self._path)
        except OSError:
            return False
        held = os.fstat(self._file.fileno())
        return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)

    def _switch(self) -> None:
        self._file.close()
        self._file = self._open()
        self.rotations += 1
        self._restart(
            f"{self._name}: replaced by a new file (rotated); following the new one from its start", count=False
        )

    def _restart(self, notice: str, count: bool = True) -> None:
        # What was read of the old content ends here, an unfinished last line included:
        # the new content must not continue it.
        if self._before and not self._before.endswith(b"\n"):
            self._pending = b"\n"
        self._file.seek(0)
        self._position = 0
        self._before = b""
        self._new_start = True
        self.truncations += count
        self._notice(notice)

    def _skip_repeated_header(self, size: int) -> None:
        """At a new start: drop the header when it is repeated; wait while it may still be."""
        head = os.pread(self._file.fileno(), len(self._header), 0)
        if head == self._header:
            self._file.seek(len(head))
            self._position = len(head)
            self._before = head[-self.CHECK_BYTES :]
        elif self._header.startswith(head) and size < len(self._header):
            return  # a header still being written, or nothing yet
        self._new_start = False

    def _read_checked(self, size: int) -> bytes:
        """Read on, unless the bytes before the read position changed: then the file was
        truncated and grown again, and the next read starts at its new start."""
        start = self._position
        data = self._file.read(size)
        if self._before and os.pread(self._file.fileno(), len(self._before), start - len(self._before)) != self._before:
            self._restart(f"{self._name}: the file was truncated and written again; reading it from its start")
            return b""
        self._position += len(data)
        self._before = (self._before + data)[-self.CHECK_BYTES :]
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


class _ReplayStream(io.RawIOBase):
    """A read-once byte stream: bytes already consumed (``head``), then the rest of ``source``.

    It also keeps the most recent ``keep_bytes`` it handed out, with the line number
    they start at, so a bad cell found by pyarrow can still be located on stdin.
    """

    def __init__(
        self,
        head: bytes,
        source: _ByteReader,
        more_ready: Callable[[float], bool],
        keep_bytes: int = 0,
    ):
        super().__init__()
        self._head = memoryview(head)
        self._source = source
        self._more_ready = more_ready
        self._keep_bytes = keep_bytes
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
        self.recent_first_line = 1
        self.recent_starts_at_beginning = True

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        if self._head:
            data = bytes(self._head[:size])
            self._head = self._head[size:]
        else:
            data = _read_available(self._source, size, self._more_ready)
        self._remember(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        # The source (stdin) belongs to the caller; only this view of it ends.
        super().close()

    def _remember(self, data: bytes) -> None:
        if not self._keep_bytes or not data:
            return
        self._recent.append(data)
        self._recent_bytes += len(data)
        while self._recent_bytes - len(self._recent[0]) >= self._keep_bytes:
            dropped = self._recent.popleft()
            self._recent_bytes -= len(dropped)
            self.recent_first_line += dropped.count(b"\n")
            self.recent_starts_at_beginning = False

    def recent(self) -> tuple[bytes, int]:
        """The kept bytes, cut to start at a line, and the number of that line."""
        data = b"".join(self._recent)
        first_line = self.recent_first_line
        if not self.recent_starts_at_beginning:
            cut = data.find(b"\n") + 1
            data = data[cut:] if cut else b""
            first_line += 1 if cut else 0
        return data, first_line


def _read_head(read: Callable[[int], bytes], more_ready: Callable[[float], bool], name: str) -> tuple[bytes, bool]:
    """Read the first MiB or so (at least one whole line); return it and whether input ended."""
    parts: list[bytes] = []
    size = 0
    newlines = 0
    while True:
        chunk = read(INFERENCE_BYTES - size if size < INFERENCE_BYTES else INFERENCE_BYTES)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
        newlines += chunk.count(b"\n")
        if newlines and size >= INFERENCE_BYTES:
            return b"".join(parts), False
        if not newlines and size > MAX_FIRST_LINE_BYTES:
            raise MotifscanError(f"{name}: line 1 is longer than {MAX_FIRST_LINE_BYTES >> 20} MiB; is this a table?")
        if newlines >= 2 and not more_ready(LIVE_INPUT_WAIT_S):
            return b"".join(parts), False
