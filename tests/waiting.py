"""Waiting for a running motifscan process to reach a known point, read from /proc.

A test that signals a live run (Ctrl-C) or changes a followed file must know that the
program has read what was written so far: a fixed sleep is too short on a loaded machine
(the program is still starting, or the signal lands before the input was read) and too long
on an idle one. These helpers wait for the state itself, on Linux.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time
from pathlib import Path

import pytest

#: Enough for a start-up on a loaded machine; a hang still fails the test.
WAIT_S = 120.0


def needs_proc() -> None:
    if not Path("/proc/self/syscall").exists():
        pytest.skip("needs Linux /proc to see what a process is doing")


def _unread_bytes(pipe) -> int:
    """Bytes written to ``pipe`` that its reader has not read yet (FIONREAD on either end)."""
    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def _blocked_reading(pid: int, fd: int) -> bool:
    """Whether the main thread of ``pid`` sleeps in read(fd) (x86-64 or arm64 numbering)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    read_numbers = {"0", "63"}  # read on x86-64, on arm64
    return len(fields) > 1 and fields[0] in read_numbers and int(fields[1], 16) == fd


def wait_until_reading_stdin(process, timeout: float = WAIT_S) -> None:
    """Wait until ``process`` has read every byte written to its stdin and sleeps in the
    next read of it: waiting for input, with everything before decided."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the program ended early (status {process.returncode})")
        if _unread_bytes(process.stdin) == 0 and _blocked_reading(process.pid, 0):
            return
        time.sleep(0.01)
    raise AssertionError("the program never came to wait for more input")


def _position_in(pid: int, path: Path) -> int | None:
    """The file offset at which ``pid`` reads ``path`` (its open descriptor), or None."""
    target = os.path.realpath(path)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                return int(info.split("pos:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return None


def _sleeping(pid: int) -> bool:
    """Whether the main thread of ``pid`` sleeps in clock_nanosleep (``time.sleep``)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return bool(fields) and fields[0] in {"230", "115"}  # x86-64, arm64


def wait_until_followed_to_end(process, path: Path, timeout: float = WAIT_S) -> None:
    """Wait until ``process`` (``--follow``) has the file now at ``path`` open, has read it
    to its end, and sleeps until it grows: everything written so far is decided."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the program ended early (status {process.returncode})")
        if _position_in(process.pid, path) == os.path.getsize(path) and _sleeping(process.pid):
            return
        time.sleep(0.01)
    raise AssertionError(f"the program never read {path} to its end")
