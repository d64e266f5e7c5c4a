"""Import TensorFlow and Keras once: quietly, deterministically, with the thread pools the caller asks for."""

import contextlib
import functools
import os
import sys


@contextlib.contextmanager
def _native_stderr_silenced():
    # TensorFlow's C++ start-up notices (oneDNN, CUDA probing) are written straight to file
    # descriptor 2 before absl logging is initialised, so no environment variable reaches them.
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_loaded = None
_own = False  # this process is initlab's own (the CLI, a sweep worker): see own_process()
# oneDNN (TensorFlow's CPU kernels) picks its code by the CPU's instruction set, and its AVX-512 code rounds float32
# differently from its AVX2 code: capped at AVX2, an AVX-512 CPU computes as an AVX2 one (most x86-64 CPUs since 2013)
# where a run's numbers moved from machine to machine (digits_large_tanh: held-out accuracy 0.242 or 0.267). Other
# differences between CPUs remain, and show in chaotic runs (README, Guarantees). The lab's networks are small: the
# cap costs nothing measurable (digits_he_relu trains in 1.8-2.0 s either way). Set the variable yourself to choose.
# Only initlab's own processes cap: a user's process that imports initlab computes as it would without it.
ONEDNN_ISA, ISA_CAP = "ONEDNN_MAX_CPU_ISA", "AVX2"


def environment(own: bool = False) -> None:
    """The environment variables TensorFlow starts with: Keras on TensorFlow (initlab needs it); in initlab's own
    processes (`own`) also quiet, and AVX-512 CPUs computing as AVX2 ones (ONEDNN_MAX_CPU_ISA). Each only where the
    caller has not set it; a user's process (the callback, initlab.diagnose, a notebook) gets no more than the first."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not own:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:  # a process that has TensorFlow already keeps its own choice
        os.environ.setdefault(ONEDNN_ISA, ISA_CAP)


def own_process() -> None:
    """Declare this process initlab's own (the CLI, a sweep worker), before TensorFlow starts: it then starts quiet,
    with the AVX2 cap, and Keras without KERAS_EXTRAS. A process that imports initlab as a library is left as the
    user would have it."""
    global _own
    _own = True


# Keras imports these at its own import whenever they are installed, for integrations initlab never uses: scikit-learn
# for its scikit-learn wrappers (0.65 s, with scipy.stats), matplotlib.pyplot for plot_image_gallery (0.3 s) and pandas
# to slice DataFrames given to fit (0.26 s). Together they were a fifth of `initlab run`'s time.
KERAS_EXTRAS = ("sklearn", "matplotlib", "pandas")  # held back while Keras imports in initlab's own processes only,
# each unless the process has it already; they import normally afterwards, but that Keras keeps going without them


@contextlib.contextmanager
def _held_back(names: list[str]):
    """While inside, `import name` raises ImportError (Keras catches it: the integration is then off)."""
    for name in names:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in names:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def keras(threads: int | None = None):
    """The keras module, TensorFlow backend; quiet on first import."""
    global _loaded
    if _loaded is None:
        environment(own=_own)
        held = [name for name in KERAS_EXTRAS if name not in sys.modules] if _own else []
        with _held_back(held), _native_stderr_silenced() if _own else contextlib.nullcontext():
            import tensorflow as tf

            if threads:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            tf.config.list_logical_devices()  # device initialisation logs its CUDA probe here
            if _own:  # a user's process keeps TensorFlow's logging as the user set it
                import absl.logging

                absl.logging.set_verbosity(absl.logging.ERROR)
                tf.get_logger().setLevel("ERROR")
            import keras as keras_module
        _loaded = keras_module
    return _loaded


@contextlib.contextmanager
def custom_gradients_forgotten():
    """Forget the tf.custom_gradient functions registered inside. TensorFlow keeps each one traced in graph mode in a
    process-wide registry, and with it the whole graph that traced it; Keras's optimizer makes one in every traced
    training step (its all-reduce of the gradients). Without this, each trained model or population stays in memory
    (~15 MiB for 64 members) however long the process runs. Only graphs differentiated again would need them."""
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    before = set(registry) if isinstance(registry, dict) else None
    try:
        yield
    finally:
        if before is not None:
            for name in set(registry) - before:
                if name.startswith("CustomGradient-"):
                    del registry[name]


@contextlib.contextmanager
def graph_optimizer_off():
    """Functions first called inside are compiled without TensorFlow's graph optimizer (grappler). initlab's training
    graphs are small: optimizing one costs 0.4-0.7 s on its first call and saved nothing measurable over 3000 epochs
    (benchmarks/results.md). Its fusions round float32 differently, by ~1e-8 against model.fit, inside every
    tolerance of the engine tests."""
    options = tf().config.optimizer
    before = options.get_experimental_options().get("disable_meta_optimizer", False)
    options.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        options.set_experimental_options({"disable_meta_optimizer": before})


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, and deterministic ops: the same config gives the same bytes.
    Only initlab's own runs call this; a user's process (InitDiagnostics) keeps its own settings."""
    keras().utils.set_random_seed(seed)
    tf().config.experimental.enable_op_determinism()


def tf():
    keras()
    import tensorflow

    return tensorflow


@functools.cache
def versions() -> dict:
    """The versions of the stack in this process (it imports TensorFlow): what summary.json records a run was made
    with, taken where the run trains (a Dask worker may run other versions than the sweep's process)."""
    import importlib.metadata
    import platform

    import numpy

    return {"python": platform.python_version(), "tensorflow": tf().__version__, "keras": keras().__version__,
            "numpy": numpy.__version__, "initlab": importlib.metadata.version("initlab")}


def numerics() -> dict:
    """The settings beside the versions that decide a run's float32 bits: oneDNN's instruction-set cap (None:
    none, the CPU's own)."""
    return {"onednn_max_cpu_isa": os.environ.get(ONEDNN_ISA)}
