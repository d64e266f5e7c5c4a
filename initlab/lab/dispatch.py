"""Where a sweep's groups train: here, in N spawned local processes, or on a Dask cluster. Workers only train and
return results; the caller writes every run folder."""

import os
import re
import signal
import sys
import threading
from typing import Iterator

from initlab.base import interrupts
from initlab.config import limits

# Keras seeding and op determinism are process-global: two groups training at once in one process (a Dask
# worker with several threads) would draw from each other's seeds. One group trains at a time per process.
_ONE_AT_A_TIME = threading.Lock()

WORKER_DIED = ("a worker process died (killed, out of memory or crashed) before this group finished; "
               "run the same command to train it again")


def train_group(configs: list, extras: bool = True) -> list:
    """One unit of work: a population of runs trained together, or one run alone. A failure becomes a failed
    result for each run it concerns instead of an exception, so the sweep goes on. A population that fails
    (one member's bad initializer fails the whole graph) trains its members alone, so only the bad ones fail."""
    with _ONE_AT_A_TIME, interrupts.held():
        if len(configs) > 1:
            try:
                return _population(configs, extras)
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001 - retried alone below, where each run's own error is recorded
                pass
        return [_alone(config) for config in configs]


def _train_group_on_a_worker(configs: list, extras: bool = True) -> list:
    """train_group in a Dask worker: a process that trains initlab's runs computes as initlab's own processes do
    (the AVX2 cap, where TensorFlow has not started in it yet)."""
    from initlab.base import backend

    backend.own_process()
    return train_group(configs, extras)


def _population(configs: list, extras: bool = True) -> list:
    from initlab.lab import runs
    from initlab.train import model as model_module
    from initlab.train.population import can_join, train_population

    data = runs.load_data(configs[0])
    resolved = [model_module.with_task_defaults(config, data.task) for config in configs]
    if not all(can_join(config) for config in resolved):
        raise ValueError("these runs cannot share a graph")
    return train_population(resolved, data, on_epoch=lambda epoch: interrupts.raise_if_received(), extras=extras)


def _alone(config):
    from initlab.config.user_experiment import UserExperiment
    from initlab.lab import runs, user_runs

    try:
        return (user_runs if isinstance(config, UserExperiment) else runs).train(config)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a run is recorded in its summary, not raised
        return failed(config, error_text(exc))


def failed(config, error: str):
    from initlab.config.user_experiment import UserExperiment
    from initlab.train.run_result import RunResult

    if isinstance(config, UserExperiment):
        from initlab.lab.user_runs import UserResult

        return UserResult(config, error=error)
    return RunResult(config, "unknown", "accuracy", engine=config.train.engine, error=error)


def error_text(exc: BaseException) -> str:
    """'InvalidArgumentError: Incompatible shapes: [2] vs. [2,4]': the type and the readable part of the message
    (TensorFlow wraps it in '{{function_node ...}} ... [Op:...]'); a UserError as the CLI shows it."""
    from initlab.base.errors import UserError

    if isinstance(exc, UserError):
        return exc.render()
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(exc)).split(" [Op:")[0].strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _start_worker(threads: int, parent: int) -> None:
    """A spawned local worker: Ctrl-C and SIGTERM are the parent's to handle (it stops the workers), and it dies
    with its parent however the parent dies; TensorFlow's thread pools sized to the worker's share of the cores,
    imported quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent(parent)
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = str(threads)
    from initlab.base.backend import keras, own_process

    own_process()
    keras(threads=threads)
    # imported while the pool starts, not in the first group's time
    from initlab.lab import runs  # noqa: F401
    from initlab.train import population  # noqa: F401


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when its parent dies, even by SIGKILL (no orphan keeps training)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere a worker notices its parent is gone when it next reads from or writes to it
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def check_scheduler(scheduler: str) -> None:
    """Raise a UserError unless the distributed extra is installed and a Dask scheduler answers at `scheduler`:
    called before anything is trained or written."""
    Client, _ = _distributed()
    _connect(Client, scheduler).close()


def run_groups(groups: list[list], workers: int = 1, scheduler: str | None = None,
               extras: list[bool] | None = None) -> Iterator[list]:
    """Yield each group's results as it finishes. extras[g] False: group g's results need no run folder's extras
    (train_population's `extras`)."""
    if not groups:
        return
    extras = extras or [True] * len(groups)
    if scheduler:
        yield from _on_dask(groups, scheduler, extras)
    elif workers > 1 and len(groups) > 1:
        yield from _in_processes(groups, workers, extras)
    else:
        for group, extra in zip(groups, extras):
            yield train_group(group, extra)


def _in_processes(groups: list[list], workers: int, extras: list[bool]) -> Iterator[list]:
    import multiprocessing
    from concurrent.futures import BrokenExecutor, ProcessPoolExecutor, as_completed

    workers = min(workers, len(groups))
    threads = max(1, limits.cores() // workers)
    # TensorFlow must not be forked once started: spawn fresh interpreters instead. Unlike multiprocessing.Pool,
    # the executor notices a worker that dies (Pool would wait for its result forever).
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(threads, os.getpid()))
    try:
        futures = {executor.submit(train_group, group, extra): group for group, extra in zip(groups, extras)}
        for future in as_completed(list(futures)):
            group = futures.pop(future)  # the caller keeps what it needs: results are not held here to the end
            try:
                results = future.result()
            except BrokenExecutor:
                results = [failed(config, WORKER_DIED) for config in group]
            except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot travel back: the group failed
                results = [failed(config, error_text(exc)) for config in group]
            del future
            yield results
    finally:  # done, or Ctrl-C, --fail-fast (GeneratorExit), a failure while writing: stop the workers now
        _stop(executor)


def _stop(executor) -> None:
    """End the workers at once: their results are in or no longer wanted, and TensorFlow's exit is slow."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()  # they ignore SIGTERM
    for process in processes:
        process.join(timeout=10)


def _distributed():
    try:
        from distributed import Client, as_completed
    except ImportError:
        from initlab.base.errors import UserError

        raise UserError("a Dask scheduler needs the distributed extra: pip install 'initlab[distributed]'",
                        "--scheduler") from None
    return Client, as_completed


def _connect(Client, scheduler: str):
    from initlab.base.errors import UserError

    try:
        return Client(scheduler)
    except (OSError, ValueError, TypeError) as exc:  # unreachable (timed out, refused) or not an address
        raise UserError(f"cannot reach a Dask scheduler at {scheduler!r} ({exc})", "--scheduler") from None


def _on_dask(groups: list[list], scheduler: str, extras: list[bool]) -> Iterator[list]:
    Client, as_completed = _distributed()
    with _connect(Client, scheduler) as client:
        # pure=False: a task that runs twice (a worker lost and its work redone) only returns the same results again
        futures = {client.submit(_train_group_on_a_worker, group, extra, pure=False): group
                   for group, extra in zip(groups, extras)}
        try:
            for future in as_completed(list(futures)):
                group = futures.pop(future)
                try:
                    results = future.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker (KilledWorker), a result that cannot travel
                    results = [failed(config, f"the Dask task failed: {error_text(exc)}") for config in group]
                future.release()  # the workers drop the results now, not at the end of the sweep
                del future
                yield results
        except BaseException:
            client.cancel(list(futures))
            raise
