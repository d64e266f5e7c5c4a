"""The environment initlab starts TensorFlow in: on an AVX-512 CPU a run computes as on an AVX2 one."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from initlab import backend
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


def test_a_run_computes_as_on_an_avx2_cpu_unless_told_otherwise(tmp_path):
    default = _final_weights(tmp_path, "default", None)
    avx2 = _final_weights(tmp_path, "avx2", "AVX2")
    assert default.keys() == avx2.keys()
    for name in default:
        np.testing.assert_array_equal(default[name], avx2[name], err_msg=name)
    if _avx512():  # why the cap exists: oneDNN's AVX-512 code rounds otherwise, and training carries it on
        every = _final_weights(tmp_path, "all", "ALL")
        assert any(not np.array_equal(every[name], avx2[name]) for name in avx2)


def _environment_after(code: str, isa: str | None) -> str:
    process = subprocess.run([sys.executable, "-c", f"{code}; from initlab import backend; backend.environment(); "
                              f"import os; print(os.environ.get({backend.ONEDNN_ISA!r}))"],
                             capture_output=True, text=True, env=_environment(isa), timeout=300)
    assert process.returncode == 0, process.stderr
    return process.stdout.strip()


@pytest.mark.parametrize("code, isa, kept", [
    ("pass", None, backend.ISA_CAP),  # initlab starts TensorFlow: capped
    ("pass", "ALL", "ALL"),  # the user's own choice
    ("import tensorflow", None, "None"),  # a notebook that has TensorFlow already: left as it is
])
def test_the_cap_is_a_default_a_user_and_a_running_tensorflow_keep_their_own(code, isa, kept):
    assert _environment_after(code, isa) == kept
