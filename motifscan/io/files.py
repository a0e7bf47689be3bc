"""Output files that are never left half written: the result goes to a temporary file that is
renamed into place (:func:`open_output`), appends are serialised by a lock (:func:`locked`),
only regular files are ever replaced (:func:`check_target`), existing modes are kept, and
the temporary files of runs that died are removed.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import socket
import stat
import sys
import tempfile
from typing import IO, Iterator, cast

from motifscan.errors import MotifscanError


#: What a write fails with when the disk, a quota or ``ulimit -f`` says no.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


@contextlib.contextmanager
def open_output(
    path: str | None, binary: bool = False, append: bool = False, option: str = "--output", before_replace=None
) -> Iterator[IO]:
    """Yield a stream for the result: stdout, or a temporary file renamed to ``path`` on success.

    With ``append`` the temporary file starts as a copy of ``path`` (when it exists), so the
    result is appended and readers see the old or the new whole file, never a mix. On any
    exception (including KeyboardInterrupt) the temporary file is removed and the target is
    left as it was. ``option`` names the option in error messages. ``before_replace``, when
    given, is called with the temporary file's path and the number of bytes copied from the
    old file, once the temporary file is complete and before it is renamed (``--state``
    records the output there, so that output and state are one commit).

    Only regular files are written: a symbolic link, device, FIFO or socket at ``path`` is
    refused (see :func:`check_target`), never replaced or written through. The new file
    keeps the mode of the file it replaces; a new one gets ``0666`` less the umask. The
    temporary file is ``.motifscan-NAME.HOST.PID.XXXX.part`` beside the target; one left by a
    process that no longer runs (killed with SIGKILL) is removed by the next run writing
    ``path``. A full disk, a quota or ``ulimit -f`` is a :class:`MotifscanError` naming ``path``.
    """
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    directory = check_target(path, option)
    kept_mode = _regular_mode(path)
    remove_stale_parts(path)
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=part_prefix(path) + f"{os.getpid()}.", suffix=".part", dir=directory
        )
    except OSError as error:
        raise MotifscanError(f"{option}: cannot write in {directory} ({error.strerror})") from None
    try:
        with os.fdopen(
            handle, "wb" if binary else "w", encoding=None if binary else "utf-8", newline=None if binary else ""
        ) as stream:
            if append and kept_mode is not None:
                stream.flush()
                with open(path, "rb") as previous:
                    # Text mode: os.fdopen gave a TextIOWrapper, whose bytes go to its buffer.
                    shutil.copyfileobj(previous, stream if binary else cast(io.TextIOWrapper, stream).buffer)
            stream.flush()
            copied = os.fstat(stream.fileno()).st_size
            yield stream
            stream.flush()
            # On disk before the rename, so a crash leaves the old file or the new, never an empty one.
            os.fsync(stream.fileno())
        os.chmod(temporary, (0o666 & ~_umask()) if kept_mode is None else kept_mode)
        if before_replace is not None:
            before_replace(temporary, copied)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
            raise MotifscanError(f"writing {path}: {error.strerror}") from None
        raise


def check_target(path: str, option: str) -> str:
    """Raise unless ``path`` can be a file written by option ``option``; return its directory.

    ``path`` may not exist yet; when it does it must be a regular file (not a symbolic link,
    a device, a FIFO or a socket): motifscan replaces files, and replacing one of those would
    swap a link or a device node for a file, or write where the link points.
    """
    if not path:
        raise MotifscanError(f"{option}: give a file name (an empty one was given)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MotifscanError(f"{option}: directory {os.path.dirname(path) or '.'} does not exist")
    if os.path.isdir(path) and not os.path.islink(path):
        raise MotifscanError(f"{option}: {path} is a directory")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return directory
    except OSError as error:
        raise MotifscanError(f"{option}: cannot use {path} ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise MotifscanError(
            f"{option}: {path} is {kind}; motifscan writes regular files only "
            f"(name the file itself, or redirect stdout)"
        )
    return directory


def _regular_mode(path: str) -> int | None:
    """The permission bits of the regular file at ``path``; None when there is none."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def part_prefix(path: str) -> str:
    """The start of the names of the temporary files written for ``path``:
    ``.motifscan-NAME.HOST.``, the process id follows (see :func:`open_output`)."""
    name = os.path.basename(path)[:96]
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c == "-")[:32] or "host"
    return f".motifscan-{name}.{host}."


def remove_stale_parts(path: str) -> list[str]:
    """Remove the temporary files of ``path`` left by processes of this host that no longer
    run (a run killed with SIGKILL cannot clean up); return their names.

    A part whose process still runs belongs to a run writing now and is left alone.
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = part_prefix(path)
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".part")):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.remove(os.path.join(directory, name))
            removed.append(name)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: it runs
        return True
    return True


@contextlib.contextmanager
def locked(path: str, option: str = "--output", on_wait=None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (``fcntl.flock`` on ``path.lock``) for the block,
    waiting for the process that holds it; ``on_wait`` is called before waiting.

    The lock file is opened with ``O_NOFOLLOW``: a symbolic link planted at its name is
    refused, never followed (and never created through). It is opened without blocking and
    must be a regular file: a FIFO planted there is refused at once, never waited on.
    """
    import fcntl

    lock_path = path + ".lock"
    try:
        lock = os.open(lock_path, os.O_CREAT | os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as error:
        reason = "a symbolic link" if error.errno == errno.ELOOP else error.strerror
        raise MotifscanError(f"{option}: cannot use the lock file {lock_path} ({reason})") from None
    try:
        if not stat.S_ISREG(os.fstat(lock).st_mode):
            raise MotifscanError(f"{option}: the lock file {lock_path} is not a regular file")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # releases the lock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def first_line(path: str | None) -> str | None:
    """The first line of the file at ``path`` without its newline; None when there is none."""
    if path is None or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace", newline="") as stream:
        line = stream.readline().rstrip("\r\n")
    return line or None
