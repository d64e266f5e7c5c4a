"""The environment initlab starts TensorFlow in: on an AVX-512 CPU a run computes as on an AVX2 one, and initlab's own
processes import Keras without the integrations it never uses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from initlab.base import backend
from initlab.config.experiment import load_config as load_config
from initlab.lab import runs

from tests.conftest import initlab_command

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _environment(isa: str | None) -> dict[str, str]:
    """This process's environment with ONEDNN_MAX_CPU_ISA set to `isa`, or unset."""
    env = {key: value for key, value in os.environ.items() if key != backend.ONEDNN_ISA}
    return env if isa is None else {**env, backend.ONEDNN_ISA: isa}


def _final_weights(tmp_path: Path, name: str, isa: str | None) -> dict[str, np.ndarray]:
    """A short run of the saturated digits lesson, as a user starts it, with ONEDNN_MAX_CPU_ISA set or not."""
    command = [*initlab_command(), "run", str(CONFIGS / "digits_large_tanh.yaml"), "--set", "train.epochs=2",
               "--out", str(tmp_path / name)]
    process = subprocess.run(command, capture_output=True, text=True, env=_environment(isa), timeout=300)
    assert process.returncode == 0, process.stderr
    with np.load(Path(process.stdout.strip()) / "weights_final.npz") as weights:
        return dict(weights)


def _avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_a_run_computes_as_on_an_avx2_cpu_unless_told_otherwise(tmp_path):
    default = _final_weights(tmp_path, "default", None)
    avx2 = _final_weights(tmp_path, "avx2", "AVX2")
    assert default.keys() == avx2.keys()
    for name in default:
        np.testing.assert_array_equal(default[name], avx2[name], err_msg=name)
    if _avx512():  # why the cap exists: oneDNN's AVX-512 code rounds otherwise, and training carries it on
        every = _final_weights(tmp_path, "all", "ALL")
        assert any(not np.array_equal(every[name], avx2[name]) for name in avx2)


def _environment_after(code: str, isa: str | None, own: bool = True) -> str:
    process = subprocess.run([sys.executable, "-c", f"{code}; from initlab.base import backend; backend.environment({own}); "
                              f"import os; print(os.environ.get({backend.ONEDNN_ISA!r}))"],
                             capture_output=True, text=True, env=_environment(isa), timeout=300)
    assert process.returncode == 0, process.stderr
    return process.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("code, isa, own, kept", [
    ("pass", None, True, backend.ISA_CAP),  # initlab's own process starts TensorFlow: capped
    ("pass", "ALL", True, "ALL"),  # the user's own choice
    ("import tensorflow", None, True, "None"),  # a process that has TensorFlow already: left as it is
    ("pass", None, False, "None"),  # a user's process that imports initlab: left as it is
])
def test_the_cap_is_a_default_a_user_and_a_running_tensorflow_keep_their_own(code, isa, own, kept):
    assert _environment_after(code, isa, own) == kept


USER_FIT = """
import hashlib, os
{first}
import keras, numpy as np
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(256, 48)).astype("float32")
y = (x[:, :24].sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((48,)), keras.layers.Dense(96, activation="tanh"),
                          keras.layers.Dense(96, activation="tanh"), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x, y, epochs=3, batch_size=32, verbose=0{callbacks})
print(os.environ.get("ONEDNN_MAX_CPU_ISA"), hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest())
"""


@pytest.mark.slow
def test_importing_initlab_leaves_a_users_fit_as_it_would_be(tmp_path):
    """A library import changes nothing of the user's TensorFlow: the same fit gives the same bytes with or without
    initlab's callback imported first (and used), and no oneDNN cap appears in the user's environment."""
    runs = {}
    for name, first, callbacks in (
        ("plain", "", ""),
        ("initlab first", "from initlab.keras import InitDiagnostics", ""),
        ("with the callback", "from initlab.keras import InitDiagnostics",
         ", callbacks=[InitDiagnostics(x[:64], y[:64], out=os.environ['OUT'], verbose=False)]"),
    ):
        code = USER_FIT.format(first=first, callbacks=callbacks)
        process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                                 env={**_environment(None), "OUT": str(tmp_path / name.replace(" ", "_"))})
        assert process.returncode == 0, process.stderr
        runs[name] = process.stdout.split()[-2:]
    assert runs["plain"][0] == "None" and runs["initlab first"] == runs["plain"] == runs["with the callback"], runs


def _modules_after(code: str) -> dict:
    """What a fresh process that runs `code` reports as JSON on its last line."""
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_initlab_processes_import_keras_without_its_extras_and_can_import_them_later():
    found = _modules_after(
        "import json, sys; from initlab.base import backend; backend.own_process(); backend.keras(); "
        f"left = [name for name in {backend.KERAS_EXTRAS!r} if name in sys.modules]; "
        "import pandas, sklearn, matplotlib.pyplot; "  # held back only while Keras imported
        "from keras.src.trainers.data_adapters import array_slicing; "
        "print(json.dumps({'left': left, 'keras_pandas': array_slicing.pandas is not None}))")
    assert found == {"left": [], "keras_pandas": False}


@pytest.mark.slow
def test_a_process_using_initlab_as_a_library_gets_keras_whole():
    found = _modules_after(
        "import json, sys; from initlab.keras import InitDiagnostics; "
        f"print(json.dumps([name for name in {backend.KERAS_EXTRAS!r} if name in sys.modules]))")
    assert found == list(backend.KERAS_EXTRAS)  # all installed with initlab: Keras imports each


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fast", "keras"])
def test_a_run_of_the_lean_cli_writes_the_bytes_of_a_run_with_keras_whole(tmp_path, engine):
    config = CONFIGS / "relu_constant.yaml"
    command = [*initlab_command(), "run", str(config), "--set", f"train.engine={engine}", "--set", "train.epochs=5",
               "--out", str(tmp_path / "cli")]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    lean = Path(process.stdout.strip())
    whole = runs.run(load_config(config, overrides=[f"train.engine={engine}", "train.epochs=5"]), tmp_path / "here")
    assert lean.name == whole.name
    for name in ("metrics.csv", "layers.csv", "signal.csv"):
        assert (lean / name).read_bytes() == (whole / name).read_bytes(), name
    with np.load(lean / "weights_final.npz") as a, np.load(whole / "weights_final.npz") as b:
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.slow
def test_initlab_run_trains_without_scikit_learn_or_matplotlib_in_its_process(tmp_path):
    """The console script leaves Keras's extras out (its pictures are drawn by painter processes)."""
    out = tmp_path / "out"
    found = _modules_after(
        "import json, os, sys; exit = os._exit; "
        "os._exit = lambda code: (print(json.dumps({'code': code, 'modules': [name for name in ('sklearn', "
        "'matplotlib') if name in sys.modules]})), sys.stdout.flush(), exit(code)); "
        f"sys.argv = ['initlab', 'run', {str(CONFIGS / 'relu_constant.yaml')!r}, '--set', 'train.epochs=2', "
        f"'--out', {str(out)!r}]; from initlab.cli import main; main()")
    assert found == {"code": 0, "modules": []}
    assert (next(out.glob("relu_constant/*")) / "boundary.gif").is_file()


KEPT = """
import json, sys
{before}
from initlab.base import backend
backend.own_process()
had = dict(sys.modules)
backend.keras()
replaced = sorted(name for name, module in had.items() if sys.modules.get(name) is not module)
import pandas, sklearn, matplotlib.pyplot  # the ones held back while Keras imported come in as usual afterwards
print(json.dumps({{"replaced": replaced, "had": sorted(set(had) & {{"pandas", "sklearn", "matplotlib", "keras"}})}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("before, had", [
    ("import pandas, matplotlib.pyplot, sklearn.linear_model", ["matplotlib", "pandas", "sklearn"]),
    ("import pandas", ["pandas"]),  # one extra present, the others held back
    ("import keras, keras.applications, tensorflow", ["keras", "matplotlib", "pandas", "sklearn"]),  # Keras whole
])
def test_the_lean_import_leaves_every_module_the_process_had_as_it_was(before, had):
    """initlab's own processes hold Keras's extras back while Keras imports: a module the process imported before
    (an extra, a submodule of one, Keras itself and keras.applications) is still the same object afterwards."""
    found = _modules_after(KEPT.format(before=before))
    assert found == {"replaced": [], "had": had}
