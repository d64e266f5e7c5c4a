"""Painters: a run's pictures drawn by helper processes are the very files drawing.draw writes in the run's own
process; a painter that dies or fails leaves its pictures to the caller, who draws them (and raises what drawing
raises)."""

import functools
import shutil
from pathlib import Path

import pytest

from initlab.lab import runs
from initlab.output import plot_workers, run_plots

from tests.conftest import make_config

TITLE = "test: painted"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A brief run with two hidden layers (so signal.png too) and its Jacobian recorded (jacobian.png), pictures drawn
    here (TensorFlow is imported)."""
    return runs.run(make_config(model={"hidden": [4, 4]}, train={"epochs": 3}, record={"jacobian": True}),
                    tmp_path_factory.mktemp("run"))


def _bare_copy(run_folder, tmp_path):
    """The run folder without its pictures, and the pictures drawn here with TITLE: {name: bytes}."""
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    for name in run_plots.PICTURES:
        (folder / name).unlink(missing_ok=True)
    run_plots.draw(folder, TITLE)
    drawn = {name: (folder / name).read_bytes() for name in run_plots.PICTURES if (folder / name).exists()}
    for name in drawn:
        (folder / name).unlink()
    return folder, drawn


@pytest.mark.slow
def test_painters_draw_the_same_bytes_as_this_process(run_folder, tmp_path):
    folder, drawn = _bare_copy(run_folder, tmp_path)
    assert set(drawn) == set(run_plots.PICTURES)
    with plot_workers.Painters(2) as painters:
        assert len(painters.processes) == 2
        painters.draw(folder, TITLE)
    assert {name: (folder / name).read_bytes() for name in drawn} == drawn


@pytest.mark.slow
def test_a_dead_painter_leaves_its_pictures_to_the_caller(run_folder, tmp_path):
    folder, drawn = _bare_copy(run_folder, tmp_path)
    with plot_workers.Painters(2) as painters:
        painters.processes[0].kill()
        painters.processes[0].wait()
        painters.draw(folder, TITLE)
    assert {name: (folder / name).read_bytes() for name in drawn} == drawn


@pytest.mark.slow
def test_a_failing_picture_raises_in_the_caller_as_drawing_does(run_folder, tmp_path):
    folder, _ = _bare_copy(run_folder, tmp_path)
    (folder / "histograms.npz").unlink()
    with pytest.raises(FileNotFoundError, match="histograms.npz"):
        run_plots.draw(folder, TITLE)
    with plot_workers.Painters(1) as painters, pytest.raises(FileNotFoundError, match="histograms.npz"):
        painters.draw(folder, TITLE)
    assert (folder / "history.png").exists()  # the others were drawn


def test_no_painters_in_a_process_that_has_tensorflow():
    import tensorflow  # noqa: F401

    with plot_workers.Painters() as painters:
        assert painters.processes == []


@pytest.mark.slow
def test_painters_use_this_initlab_whatever_the_working_folder_holds(run_folder, tmp_path, monkeypatch):
    """From a folder with another `initlab` package in it (a checkout beside an installed initlab), painters still
    import the initlab that started them."""
    folder, drawn = _bare_copy(run_folder, tmp_path)
    decoy = tmp_path / "elsewhere" / "initlab"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the wrong initlab')\n")
    monkeypatch.chdir(decoy.parent)
    with plot_workers.Painters(2) as painters:
        for process in painters.processes:
            assert process.poll() is None
        job = functools.partial(run_plots.draw, Path("/nonexistent"), "t", only={"history.png"})
        painters.processes[0].stdin.write(plot_workers.encode(job))
        painters.processes[0].stdin.flush()
        assert "FileNotFoundError" in painters.processes[0].stdout.readline()  # it answers: real initlab code
        painters.draw(folder, TITLE)
    assert {name: (folder / name).read_bytes() for name in drawn} == drawn


SWEEP_PICTURES = ("loss_curves.png", "activation_std.png", "boundaries.png")


@pytest.mark.slow
def test_a_sweeps_pictures_painted_are_the_bytes_drawn_here(tmp_path):
    """A sweep's comparison pictures (the boundaries from views taken in this process) and its runs' own pictures,
    drawn by painters, are the files drawn without them."""
    import yaml

    from initlab.lab import sweep

    from tests.conftest import raw_config

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(raw_config(name="base", model={"hidden": [3]},
                                                                  train={"epochs": 3})))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "painted", "base": "base.yaml", "seeds": [0, 1],
                                    "grid": {"model.kernel_initializer": ["he_normal", "zeros"]}}))
    drawn = {}
    for count in (0, 2):
        the_plan = sweep.plan(path, [], tmp_path / f"out{count}")
        with plot_workers.Painters(count) as painters:
            assert len(painters.processes) == count
            sweep._train_and_report(the_plan, sweep.work_of(the_plan), 1, None, False, True, None, painters)
        folders = [the_plan.sweep_dir, *the_plan.folders]
        drawn[count] = {(folder.name, name): (folder / name).read_bytes() for folder in folders
                        for name in (*SWEEP_PICTURES, *run_plots.PICTURES) if (folder / name).exists()}
    # one hidden layer: no signal.png; trained in a population: no frames, so no boundary.gif; no record.jacobian
    assert {name for _, name in drawn[0]} == set(SWEEP_PICTURES) | set(run_plots.PICTURES) - {"signal.png", "boundary.gif",
                                                                                               "jacobian.png"}
    assert drawn[2] == drawn[0]


@pytest.mark.slow
@pytest.mark.parametrize("hidden, painted", [([[3]], True), ([[3], [2]], False)])
def test_only_a_sweep_of_one_group_trained_here_gets_painters(tmp_path, monkeypatch, hidden, painted):
    """Painters hold ~100 MiB each for the whole sweep: worth it only where the pictures are a good part of its time."""
    import yaml

    from initlab.lab import sweep

    from tests.conftest import raw_config

    asked = []

    class Recorded(plot_workers.Painters):
        def __init__(self, count=None):
            asked.append(count)
            super().__init__(0)

    monkeypatch.setattr(plot_workers, "Painters", Recorded)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(raw_config(name="base", train={"epochs": 2})))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "groups", "base": "base.yaml", "seeds": [0, 1],
                                    "grid": {"model.hidden": hidden}}))
    the_plan = sweep.plan(path, [], tmp_path / "out")
    assert len(sweep.work_of(the_plan)) == len(hidden)
    sweep.execute(the_plan, pictures=False)
    assert asked == [None if painted else 0]  # None: as many as the machine allows
