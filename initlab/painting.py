"""A run's pictures drawn by helper processes, side by side. They start before TensorFlow is imported, so they import
matplotlib on a core that TensorFlow's import leaves idle, and the run's own process never imports it at all.

Protocol: one JSON line per picture in, `{"folder", "title", "picture"}`; one JSON line out, `{"error": null}` or the
error's text. A painter that cannot start, dies or fails leaves that picture to the caller's own process, which draws
it as before (and raises what drawing raises)."""

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from . import drawing, limits

MOST = 2  # painters: one per core of a 2-core machine, the run's own process only waits while they draw
# This very initlab, whatever the working folder holds (`python -m` would import ./initlab first, in a checkout),
# at low priority: while TensorFlow imports, the run's process and two painters share two cores, and the run waits
# for TensorFlow, not for the painters (measured: `initlab run` 0.6-1.2 s sooner in median over 5 and 6 rounds).
SERVE = f"import os; os.nice(10); import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); " \
        "from initlab.painting import serve; serve()"


class Painters:
    """Up to MOST painter processes, started at once; `with Painters() as painters: ... painters.draw(folder, title)`."""

    def __init__(self, count: int | None = None):
        """count: by default MOST (at most one per core), and none on one core or in a process that has TensorFlow
        already (a notebook, the tests, `initlab reproduce`): there they would only add their start-up (~1 s of CPU
        each)."""
        if count is None:
            cores = limits.cores()
            count = 0 if "tensorflow" in sys.modules or cores < 2 else min(MOST, cores)  # one core: nothing to overlap
        self.processes = []
        for _ in range(count):
            try:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True, bufsize=1))
            except OSError:  # no process to spare: the pictures are drawn here
                break

    def draw(self, folder: Path, title: str) -> None:
        """Every picture of drawing.draw, shared out among the painters (the costliest first); what a painter could not
        draw is drawn here afterwards."""
        todo = queue.Queue()
        for picture in drawing.PICTURES:
            todo.put(picture)
        left = []

        def paint(process) -> None:
            while True:
                try:
                    picture = todo.get_nowait()
                except queue.Empty:
                    return
                if not _ask(process, {"folder": str(folder), "title": title, "picture": picture}):
                    left.append(picture)

        # daemons: after Ctrl-C in join() nothing waits for them, and a closed pipe ends them quietly (_ask)
        threads = [threading.Thread(target=paint, args=(process,), daemon=True) for process in self.processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        left.extend(todo.queue)  # no painter at all
        if left:
            drawing.draw(folder, title, only=set(left))

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


def _ask(process, job: dict) -> bool:
    """Whether the painter drew the job's picture."""
    try:
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        answer = process.stdout.readline()
    except (OSError, ValueError):  # ValueError: the pipe was closed here (Ctrl-C while drawing)
        return False
    try:
        return json.loads(answer)["error"] is None
    except (ValueError, KeyError, TypeError):  # it died: no answer
        return False


def serve() -> None:
    """A painter: draw each picture asked for on stdin until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run's process; its exit closes our stdin
    from . import animation, plots  # noqa: F401 - matplotlib now, while the run's process imports TensorFlow
    for line in sys.stdin:
        job = json.loads(line)
        try:
            drawing.draw(Path(job["folder"]), job["title"], only={job["picture"]})
            error = None
        except Exception as exc:  # noqa: BLE001 - reported; the run's process draws it again and raises
            error = f"{type(exc).__name__}: {exc}"
        sys.stdout.write(json.dumps({"error": error}) + "\n")
        sys.stdout.flush()
