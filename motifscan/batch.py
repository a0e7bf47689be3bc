"""Many inputs in one run: files, folders and Parquet datasets, one after the other or in parallel.

Every input goes through the one pipeline (:class:`motifscan.pipeline.Detection`) on its
own, exactly as if it were run alone; this module only expands the arguments into inputs,
runs them (``jobs`` worker processes at most) and hands their motifs on in a fixed order:
input order, then signal order, whatever the parallelism. A bad input is reported through
a callback and the others still run.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator, Sequence

from motifscan.config import DetectConfig
from motifscan.motif import Motif, sort_motifs
from motifscan.errors import MotifscanError
from motifscan.io.signals import SIGNAL_EXTENSIONS
from motifscan.io.parquet import is_parquet_dataset
from motifscan.io.times import in_zone
from motifscan.pipeline import Detection
from motifscan.scan_plan import RunSummary
from motifscan.file_run import FileRun, ReadOptions, _counted, run_file


def _is_signal_file(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
        if lowered.endswith((".parquet", ".pq")):
            return False
    return lowered.endswith(SIGNAL_EXTENSIONS)


def expand_inputs(arguments: Sequence[str]) -> list[tuple[str, str | None]]:
    """Turn FILE arguments into inputs: ``(name, problem)`` pairs in a fixed order.

    A file (or ``-``) is itself; a Parquet dataset directory (see
    :func:`motifscan.io.parquet.is_parquet_dataset`) is one input; any other directory
    stands for the signal files below it (``.csv``, ``.tsv``, ``.txt``, each optionally
    ``.gz``, and ``.parquet``/``.pq``; hidden names and names starting with ``_`` are
    skipped), sorted by path, datasets inside it counting as one input each. An input named
    twice is read once. ``problem`` is a one-line error for an argument that gives no input
    (a folder without signal files); other problems are found when the input is read.
    """
    inputs: dict[str, str | None] = {}
    for argument in arguments:
        if argument == "-" or not os.path.isdir(argument) or is_parquet_dataset(argument):
            inputs.setdefault(argument, None)
            continue
        try:
            found = list(_signals_below(argument, set()))
        except OSError as error:
            inputs.setdefault(
                argument, f"{argument}: cannot read the directory {error.filename or argument} ({error.strerror})"
            )
            continue
        if not found:
            inputs.setdefault(argument, f"{argument}: no CSV, TSV, TXT or Parquet file in this directory")
        for name in found:
            inputs.setdefault(name, None)
    return list(inputs.items())


def _signals_below(directory: str, seen: set) -> Iterator[str]:
    # A directory reached again (a symbolic link to a parent: a loop) is read once, like an
    # input named twice.
    identity = (os.stat(directory).st_dev, os.stat(directory).st_ino)
    if identity in seen:
        return
    seen.add(identity)
    entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    for entry in entries:
        if entry.name.startswith((".", "_")):
            continue
        path = os.path.join(directory, entry.name)
        if entry.is_dir():
            if is_parquet_dataset(path):
                yield path
            else:
                yield from _signals_below(path, seen)
        elif _is_signal_file(entry.name):
            yield path


def _run_file_job(job) -> FileRun:
    """Entry point of a worker process (a top-level function, so it can be pickled)."""
    return run_file(*job[:3], label=job[3], ordered=job[4], resume=job[5])


def _pool(jobs: int):
    """A pool of ``jobs`` worker processes that end with this process.

    The workers are spawned, not forked: the parent may hold pyarrow or Numba threads, and
    a forked child can inherit one of their locks held. Nor do they come from the
    multiprocessing fork server: that server is a child of the first process that uses it
    and outlives it, and so did every worker it forked (each holding the caller's stdout
    and stderr, so ``motifscan ... --jobs 2 | wc -l`` never saw the end of its input).
    Spawned workers are this process's own children, and :func:`_worker_start` ties each
    one's life to it.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(os.getpid(),),
    )


def _worker_start(parent: int) -> None:
    """Set up a worker process: it dies with ``parent``, ignores the terminal's Ctrl-C (the
    parent stops it), and holds neither the caller's stdin nor stdout."""
    import signal
    import sys
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY)):
        # A reader of our stdout waits for every process that holds it; a worker writes
        # nothing there (its results go back through the pool), so it lets go of it.
        devnull = os.open(os.devnull, mode)
        os.dup2(devnull, stream)
        os.close(devnull)
    if sys.platform.startswith("linux"):
        import ctypes

        # PR_SET_PDEATHSIG: the kernel kills this worker when its parent ends, however it ends
        # (SIGKILL included).
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)
    # Elsewhere (and as a second guard): a thread that ends the worker once it is orphaned.
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


#: The signals that stop a run (see :mod:`motifscan.cli`).
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP for the block; one that came is raised again
    when it ends, to the handler in place before.

    Not with a signal mask: any thread (pyarrow's, Numba's) may take a process's signal, and
    Python then runs the handler in the main thread at once, whatever its mask.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread, where they also run
        return
    came: list[int] = []
    before = {}
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            number = getattr(signal, name)
            before[number] = signal.signal(number, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        if came:
            signal.raise_signal(came[0])


def _watch_parent(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _stop_pool(pool, finished: bool) -> None:
    """Shut ``pool`` down: wait for its idle workers to exit when every result was taken;
    otherwise (an error, a signal, a closed pipe) kill the workers still busy, so nothing
    runs on after the run. Either way the names of its queues' semaphores are released
    (see :func:`_release_semaphore_names`)."""
    # shutdown() forgets the queues (the manager thread may hold them on): taken first.
    queues = [getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)]
    try:
        if finished:
            pool.shutdown(wait=True)
            return
        # The executor has no public way to stop a running task; its process table is the way.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        # Killed first, with no future cancelled (see _in_order): the manager thread then
        # fails every pending future with BrokenProcessPool. (Python 3.11's fails a
        # cancelled one too, and dies on the InvalidStateError with a traceback on stderr.)
        for process in processes:
            with contextlib.suppress(Exception):
                process.kill()
        pool.shutdown(wait=False)
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(5)
    finally:
        _release_semaphore_names(queues)


def _in_order(futures: list) -> Iterator[FileRun]:
    """The results of ``futures`` in their order, whichever worker finishes first, each let go
    of once taken. Unlike ``Executor.map``, which cancels the futures left when its iterator
    is closed, nothing here cancels one: a stopped run kills the workers instead (see
    :func:`_stop_pool`)."""
    futures.reverse()
    while futures:
        yield futures.pop().result()


def _release_semaphore_names(queues) -> None:
    """Unlink the names of the named semaphores of ``queues`` (multiprocessing queues) now,
    as the interpreter's exit would.

    Spawned workers open a queue's semaphores by name, so this process keeps the names, and
    registers each with multiprocessing's resource tracker, until the queue is collected.
    After a signal or an error the pool's manager thread may still hold the queues when the
    process ends with ``os._exit`` (see :func:`motifscan.cli.main`), which skips the exit
    handler that unlinks them: the tracker then unlinks them itself and prints "leaked
    semaphore objects" after our one line. Unlinking a name leaves every open handle working
    (the manager thread may still use them) and no worker starts after its pool is shut
    down, so each name goes here, through its own finalizer (which also tells the tracker,
    and runs only once: not again when the queue is collected).
    """
    from multiprocessing import util
    from multiprocessing.synchronize import SemLock

    locks = [
        lock
        for queue in queues
        for lock in (getattr(queue, name, None) for name in ("_rlock", "_wlock", "_sem"))
        if isinstance(lock, SemLock)
    ]
    for finalizer in list(getattr(util, "_finalizer_registry", {}).values()):
        referent = getattr(finalizer, "_weakref", None)
        if referent is not None and any(referent() is lock for lock in locks):
            finalizer()


class BatchRun:
    """One detection over several inputs.

    Iterating yields every motif: with one input (not a folder) as
    :class:`~motifscan.pipeline.Detection` does (as soon as final, or in signal order with
    ``ordered``), its errors raised; with several, input by input, each input's motifs once
    it has been read to its end, a failed input contributing none and its error going to
    ``on_error``. After the iteration, :attr:`files` holds one :class:`FileRun` per input.

    Parameters
    ----------
    arguments : sequence of str
        FILE arguments (see :func:`expand_inputs`).
    config : DetectConfig
    read : ReadOptions
    jobs : int
        Worker processes; 1 runs everything in this process.
    ordered : bool
        List each input's motifs in signal order (start, then channel); see also
        :meth:`as_found`.
    on_error : callable(str), optional
        Called with each failed input's message, in input order.
    on_file_done : callable(FileRun), optional
        Called after each input, in input order.
    watch : optional
        Sees every block of a single input without ``state`` (see
        :class:`motifscan.pipeline.Detection`); for a figure or a sparkline, which draw one
        input.
    state : motifscan.state.StateFile, optional
        Read only what earlier runs over this state have not; the caller saves it.
    follow : bool
        Follow the one input like ``tail -F`` (see :func:`motifscan.io.signals.read_signal`).
    on_notice : callable(str), optional
        With ``follow``, called with one line when the followed file is rotated or truncated.
    dask : str or distributed.Client, optional
        Run the inputs as tasks on a Dask cluster: ``"local"``, a scheduler address, or a
        client (see :mod:`motifscan.distributed`).
    split_bytes : int, optional
        With ``dask``, inputs larger than this are split into ranges of about this size.
    """

    def __init__(
        self,
        arguments: Sequence[str],
        config: DetectConfig,
        read: ReadOptions,
        *,
        jobs: int = 1,
        ordered: bool = True,
        on_error: Callable[[str], None] | None = None,
        on_file_done: Callable[[FileRun], None] | None = None,
        state=None,
        follow: bool = False,
        watch=None,
        dask=None,
        split_bytes: int | None = None,
        on_notice: Callable[[str], None] | None = None,
    ):
        from motifscan.distributed import DEFAULT_SPLIT_BYTES

        self.config = config
        self.state = state
        self.dask = dask
        self.split_bytes = split_bytes or DEFAULT_SPLIT_BYTES
        #: A :class:`motifscan.progress.RunProgress` to feed, or None.
        self.progress = None
        #: Whether the input is live (stdin or followed): motifs are written as they come.
        self.live = follow or list(arguments) == ["-"]
        self.read = read
        self.jobs = jobs
        self.ordered = ordered
        self.inputs = expand_inputs(arguments)
        self.several = len(arguments) > 1 or any(
            name != "-" and os.path.isdir(name) and not is_parquet_dataset(name) for name in arguments
        )
        if self.several and "-" in arguments:
            raise MotifscanError("- (standard input) must be the only FILE")
        if state is not None and "-" in arguments:
            raise MotifscanError("--state needs files: standard input cannot be read again")
        if follow and (self.several or arguments[0] == "-" or state is not None):
            raise MotifscanError("--follow reads one FILE (not -, a directory or several; no --state)")
        if dask is not None and (follow or "-" in arguments):
            raise MotifscanError(
                "--dask needs files: a cluster cannot read this machine's standard input or follow a file"
            )
        self.on_error = on_error or (lambda message: None)
        self.on_file_done = on_file_done or (lambda run: None)
        self.files: list[FileRun] = []
        self._single = None
        if not self.several and state is None and dask is None:
            # Open it now: a bad single input is an error before any output exists.
            name = self.inputs[0][0]
            self._single = Detection(
                read.open(name, config.block_rows, follow=follow, on_notice=on_notice), config, watch
            )

    @property
    def fields(self) -> tuple[str, ...]:
        """The output columns: ``file`` with several inputs; ``time`` when an input has one
        (before all inputs are read, always with several inputs)."""
        from motifscan.io.output import motif_fields, optional_fields

        with_activation = self.config.method == "conv"
        optional = optional_fields(self.config)
        if self._single is not None:
            return motif_fields(
                with_time=self._single.source.time_column is not None,
                with_activation=with_activation,
                optional=optional,
            )
        if not self.several:
            return motif_fields(
                with_time=self._single_time_column() is not None, with_activation=with_activation, optional=optional
            )
        if len(self.files) < len(self.inputs):
            # Not all read yet (JSON Lines streams): keep the key, null where there is no time.
            return motif_fields(with_time=True, with_file=True, with_activation=with_activation, optional=optional)
        with_time = any(run.summary.time_column is not None for run in self.files if run.summary is not None)
        return motif_fields(with_time=with_time, with_file=True, with_activation=with_activation, optional=optional)

    def _single_time_column(self) -> str | None:
        summary = self.files[0].summary if self.files else None
        if summary is not None:
            return summary.time_column
        try:  # nothing new was read (--state): the columns are still those of the input
            return self.read.open(self.inputs[0][0], self.config.block_rows).time_column
        except MotifscanError:
            return None

    @property
    def failed(self) -> list[FileRun]:
        return [run for run in self.files if run.error is not None]

    @property
    def motif_count(self) -> int:
        return sum(run.summary.motifs for run in self.files if run.summary is not None)

    def as_found(self) -> Iterator[Motif]:
        """Iterate the motifs in the order they become final (for streaming formats)."""
        self.ordered = False
        return iter(self)

    def __iter__(self) -> Iterator[Motif]:
        if self._single is not None:
            yield from self._run_single(self._single)
            return
        for run in self._runs():
            if run.error is not None and not self.several:
                raise MotifscanError(run.error)
            if self.state is not None and run.resume is not None and run.summary is not None:
                self.state.record(run.name, run.resume, run.summary, run.undecided)
            self.files.append(run)
            if self.progress is not None:
                counted = self.jobs == 1 and self.dask is None
                self.progress.file_done(0 if counted or run.summary is None else run.summary.samples)
            if run.error is not None:
                self.on_error(run.error)
            self.on_file_done(run)
            yield from in_zone(run.motifs, None if run.summary is None else run.summary.time_zone)

    def _run_single(self, detection: Detection) -> Iterator[Motif]:
        name = self.inputs[0][0]
        if self.progress is not None:
            self.progress.rows_total(detection.source.rows_estimate)
            detection.source = _counted(detection.source, self.progress.add_rows)
        zone = detection.source.time_zone
        if self.ordered:
            yield from in_zone(sort_motifs(list(detection), detection.channel_rank, detection.kernel_rank), zone)
        else:
            yield from in_zone(detection, zone)
        run = FileRun(name, [], detection.summary)
        self.files.append(run)
        self.on_file_done(run)

    def _runs(self) -> Iterator[FileRun]:
        jobs, unchanged = [], set()
        for name, problem in self.inputs:
            if problem is not None:
                continue
            resume = None if self.state is None else self.state.plan(name)
            if self.state is not None and resume is None:
                unchanged.add(name)
                continue
            jobs.append((name, self.config, self.read, self.several, self.ordered, resume))
        pool = None
        client, owned = None, False
        finished = False
        try:
            if self.jobs > 1 and len(jobs) > 1 and self.dask is None:
                # A signal while the pool starts its workers (in submit() below) would leave a
                # half-started one, not yet in the pool's table, to die with a traceback:
                # signals wait until the pool is in place, within this try.
                with _signals_held():
                    pool = _pool(min(self.jobs, len(jobs)))
                    results = _in_order([pool.submit(_run_file_job, job) for job in jobs])
            else:
                on_rows = None if self.progress is None else self.progress.add_rows
                results = (
                    run_file(*job[:3], label=job[3], ordered=job[4], resume=job[5], on_rows=on_rows) for job in jobs
                )
            if self.dask is not None:
                from motifscan.distributed import connect, run_on_dask

                client, owned = connect(self.dask)
                results = run_on_dask(
                    client,
                    [(job[0], job[5]) for job in jobs],
                    self.config,
                    self.read,
                    self.split_bytes,
                    self.several,
                    self.ordered,
                )
            for name, problem in self.inputs:
                if problem is not None:
                    yield FileRun(name, [], None, problem)
                elif name in unchanged:
                    yield FileRun(name, [], None)
                else:
                    yield next(results)
            finished = True
        finally:
            if pool is not None:
                _stop_pool(pool, finished)
                # Let go of the pool and its futures (an exception passing through here still
                # holds this frame).
                pool, results = None, iter(())
            if owned and client is not None:  # owned: connect() gave the client
                cluster = client.cluster
                client.close()
                if cluster is not None:
                    cluster.close()

    def report(self) -> dict:
        """The JSON header: per input what was seen (or its error), then the totals."""
        from motifscan.io.output import run_report

        parameters = self.config.parameters()
        if self._single is not None:
            return run_report(self._single.summary, parameters)
        if not self.several:
            run = self.files[0]
            return run_report(run.summary or RunSummary(run.name, [], None), parameters)
        files: list[dict[str, Any]] = []
        for run in self.files:
            if run.error is not None:
                files.append({"file": run.name, "error": run.error})
                continue
            if run.summary is None:
                files.append({"file": run.name, "unchanged": True})
                continue
            entry = run_report(run.summary, parameters)
            del entry["parameters"], entry["source"]
            files.append({"file": run.name, **entry})
        done = [run.summary for run in self.files if run.summary is not None]
        report = {
            "files": files,
            "parameters": parameters,
            "samples": sum(summary.samples for summary in done),
            "positions": sum(summary.positions for summary in done),
            "skipped_windows": sum(summary.skipped_windows for summary in done),
            "suppressed_peaks": sum(summary.suppressed_peaks for summary in done),
            "large_offset": any(summary.large_offset for summary in done),
            **(
                {"bad_lines": sum(summary.bad_lines.count for summary in done if summary.bad_lines is not None)}
                if self.read.bad_lines != "error"
                else {}
            ),
            "failed_files": len(self.failed),
            "motif_count": self.motif_count,
            **(
                {"undecided_candidates": undecided} if (undecided := sum(summary.undecided for summary in done)) else {}
            ),
        }
        if "min_channels" in parameters:
            report["partial_windows"] = sum(summary.partial_windows for summary in done)
        if "fill" in parameters:
            report["filled_samples"] = sum(summary.filled_samples for summary in done)
            report["filled_windows"] = sum(summary.filled_windows for summary in done)
        return report

    def caption(self) -> str:
        """The one-line summary under a table."""
        config = self.config
        count = self.motif_count
        samples = sum(run.summary.samples for run in self.files if run.summary is not None)
        where = f"{samples} samples"
        if self.several:
            where += f" of {len(self.files)} file{'s' * (len(self.files) != 1)}"
            if self.failed:
                where += f" ({len(self.failed)} failed)"
        threshold = f"threshold {config.threshold:g}"
        if config.method == "conv":
            threshold = f"conv · threshold {config.threshold:g} × strongest |activation|"
        spans = f"{config.shortest_span}–{config.span}" if config.shortest_span != config.span else f"{config.span}"
        return f"{count} motif{'s' * (count != 1)} in {where} · p = {config.p:g} · {threshold} · span {spans}"
