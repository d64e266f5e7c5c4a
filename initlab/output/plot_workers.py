"""Pictures drawn by helper processes, side by side. They start before TensorFlow is imported, so their start-up
(Python, matplotlib, pandas: ~1 s of CPU each) runs on a core that TensorFlow's import leaves idle, and later they
draw while the caller's process goes on. The caller's process then never imports matplotlib: initlab's own processes
import Keras without it (backend.own_process).

A job is any picklable call of initlab's writers (a functools.partial of a module-level function): a run's pictures,
a sweep's comparison pictures. Protocol: one line per job in (the pickled call, base64), one JSON line out,
`{"error": null}` or the error's text. A job that a painter cannot take, or that fails or dies in it, is called in
the caller's own process afterwards (and raises there what it raises).

"""

import base64
import functools
import json
import pickle
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from initlab.config import limits
from initlab.output import run_plots

MOST = 2  # painters: one per core of a 2-core machine, the run's own process only waits while they draw
# This very initlab, whatever the working folder holds (`python -m` would import ./initlab first, in a checkout),
# at low priority: while TensorFlow imports, the run's process and two painters share two cores, and the run waits
# for TensorFlow, not for the painters (measured: `initlab run` 0.6-1.2 s sooner in median over 5 and 6 rounds).
SERVE = f"import os; os.nice(10); import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); " \
        "from initlab.output.plot_workers import serve; serve()"


class Painters:
    """Up to MOST painter processes, started at once: `with Painters() as painters:` then `painters.draw(folder,
    title)` for a run's pictures, or `painters.submit(job)` for each job and `painters.wait()`."""

    def __init__(self, count: int | None = None):
        """count: by default MOST (at most one per core), and none on one core or in a process that has TensorFlow
        already (a notebook, the tests, `initlab reproduce`): there they would only add their start-up (~1 s of CPU
        each)."""
        if count is None:
            cores = limits.cores()
            count = 0 if "tensorflow" in sys.modules or cores < 2 else min(MOST, cores)  # one core: nothing to overlap
        self.processes, self.threads, self.todo, self.left = [], [], queue.Queue(), []
        for _ in range(count):
            try:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True, bufsize=1))
            except OSError:  # no process to spare: the pictures are drawn here
                break

    def submit(self, job) -> None:
        """Queue a job (a picklable call): the painters take jobs in the order submitted, each as it is free."""
        if not self.threads:
            # daemons: after Ctrl-C in wait() nothing waits for them, and a closed pipe ends them quietly (_ask)
            self.threads = [threading.Thread(target=self._paint, args=(process,), daemon=True)
                            for process in self.processes]
            for thread in self.threads:
                thread.start()
        self.todo.put(job)

    def wait(self) -> None:
        """Until every submitted job is done; those no painter did are called here, in order, and the first error
        any of them raised is raised once all were tried."""
        for _ in self.threads:
            self.todo.put(None)  # one end mark per painter
        for thread in self.threads:
            thread.join()
        self.threads = []
        left, self.left = self.left, []
        while not self.todo.empty():  # no painter at all, or every one died
            job = self.todo.get_nowait()
            if job is not None:
                left.append(job)
        errors = []
        for job in left:
            try:
                job()
            except Exception as error:  # noqa: BLE001 - raised below, after the other jobs had their turn
                errors.append(error)
        if errors:
            raise errors[0]

    def draw(self, folder: Path, title: str) -> None:
        """Every picture of run_plots.draw, shared out among the painters (the costliest first)."""
        if not self.processes:
            run_plots.draw(folder, title)  # here, reading each record once
            return
        for picture in run_plots.PICTURES:
            self.submit(functools.partial(run_plots.draw, folder, title, only={picture}))
        self.wait()

    def _paint(self, process) -> None:
        """One painter's thread: hand it jobs until the end mark; a job it did not do is left to the caller."""
        while (job := self.todo.get()) is not None:
            if not _ask(process, job):
                self.left.append(job)
                if process.poll() is not None:  # it died: the jobs still queued are for the others, or the caller
                    return

    def close(self) -> None:
        """End their input: each painter exits by itself (not waited for: its interpreter's teardown takes ~0.4 s)."""
        for process in self.processes:
            try:
                process.stdin.close()
            except OSError:
                pass
        self.processes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encode(job) -> str:
    """A job as one line of the protocol."""
    return base64.b64encode(pickle.dumps(job)).decode("ascii") + "\n"


def _ask(process, job) -> bool:
    """Whether the painter did the job."""
    try:
        line = encode(job)
    except Exception:  # noqa: BLE001 - a job that cannot be pickled is the caller's to do
        return False
    try:
        process.stdin.write(line)
        process.stdin.flush()
        answer = process.stdout.readline()
    except (OSError, ValueError):  # ValueError: the pipe was closed here (Ctrl-C while drawing)
        return False
    try:
        return json.loads(answer)["error"] is None
    except (ValueError, KeyError, TypeError):  # it died: no answer
        return False


def serve() -> None:
    """A painter: do each job read from stdin until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller's process; its exit closes our stdin
    # matplotlib and pandas now, while the caller imports TensorFlow: a sweep report's jobs need both
    import pandas  # noqa: F401

    from initlab.output import boundary_animation, plots, run_folder  # noqa: F401
    for line in sys.stdin:
        try:
            pickle.loads(base64.b64decode(line))()
            error = None
        except Exception as exc:  # noqa: BLE001 - reported; the caller does the job again and raises
            error = f"{type(exc).__name__}: {exc}"
        sys.stdout.write(json.dumps({"error": error}) + "\n")
        sys.stdout.flush()
