"""Where a sweep's groups train: here, in N spawned local processes, or on a Dask cluster. Workers only train and
return results; the caller writes every run folder."""

import os
import traceback
from typing import Iterator


def train_group(configs: list) -> list:
    """One unit of work: a population of runs trained together, or one run alone. A failure becomes a failed
    result for each run of the group instead of an exception, so the sweep goes on."""
    from . import model as model_module, runs
    from .population import can_join, train_population

    try:
        if len(configs) == 1:
            return [runs.train(configs[0])]
        data = runs.load_data(configs[0])
        resolved = [model_module.with_task_defaults(config, data.task) for config in configs]
        assert all(can_join(config) for config in resolved)
        return train_population(resolved, data)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a run is recorded in its summary, not raised
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return [runs.RunResult(config, "unknown", "accuracy", engine=config.train.engine, error=detail) for config in configs]


def _start_worker(threads: int) -> None:
    """A spawned local worker: TensorFlow's thread pools sized to its share of the cores, imported quietly."""
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = str(threads)
    from .backend import keras

    keras(threads=threads)


def run_groups(groups: list[list], workers: int = 1, scheduler: str | None = None) -> Iterator[list]:
    """Yield each group's results as it finishes."""
    if scheduler:
        yield from _on_dask(groups, scheduler)
    elif workers > 1 and len(groups) > 1:
        yield from _in_processes(groups, workers)
    else:
        for group in groups:
            yield train_group(group)


def _in_processes(groups: list[list], workers: int) -> Iterator[list]:
    import multiprocessing

    # TensorFlow must not be forked once started: spawn fresh interpreters instead.
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker, initargs=(threads,))
    try:
        yield from pool.imap_unordered(train_group, groups)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _on_dask(groups: list[list], scheduler: str) -> Iterator[list]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        from .errors import UserError

        raise UserError("a Dask scheduler needs the distributed extra: pip install 'initlab[distributed]'", "--scheduler") from None
    with Client(scheduler) as client:
        # pure=False: a task that runs twice (a worker lost and its work redone) only returns the same results again
        futures = [client.submit(train_group, group, pure=False) for group in groups]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            client.cancel(futures)
            raise
