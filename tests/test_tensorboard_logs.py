"""A sweep's runs in TensorBoard, written from the records without TensorFlow and read back with TensorBoard's own
reader: per-epoch scalars, activation histograms, and the HParams dashboard's experiment and trials."""

import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.output import run_folder

from tests.conftest import raw_config

runner = CliRunner()


def accumulate(path: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    reader.Reload()
    return reader


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A population sweep (2 initializers x 3 seeds, trained in one graph) and its tensorboard folder."""
    folder = tmp_path_factory.mktemp("tb")
    (folder / "base.yaml").write_text(yaml.safe_dump(raw_config(model={"hidden": [4]}, train={"epochs": 4})))
    (folder / "s.yaml").write_text(yaml.safe_dump({"name": "tb", "base": "base.yaml",
                                                   "grid": {"model.kernel_initializer": ["glorot_uniform", "he_normal"]},
                                                   "seeds": [0, 1, 2]}))
    result = runner.invoke(app, ["sweep", str(folder / "s.yaml"), "--out", str(folder / "out")])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["tensorboard", str(folder / "out" / "tb")])
    assert shown.exit_code == 0, shown.output
    return folder / "out" / "tb", shown


def test_every_run_of_a_population_has_its_scalars_per_epoch_and_its_histograms(swept):
    sweep_dir, _ = swept
    runs = sorted(p for p in (sweep_dir / "tensorboard").iterdir() if p.is_dir())
    assert len(runs) == 6
    for run in runs:
        metrics = run_folder.read_metrics(sweep_dir / run.name)
        reader = accumulate(run)
        loss = reader.Scalars("epoch/loss")
        assert [event.step for event in loss] == list(metrics["epoch"])
        assert [event.value for event in loss] == pytest.approx(list(metrics["loss"]), rel=1e-6)
        final = run_folder.read_summary(sweep_dir / run.name)["final"]
        assert reader.Scalars("final/val_accuracy")[0].value == pytest.approx(final["val_accuracy"], rel=1e-6)
        histograms = [tag for tag in reader.Tags()["histograms"] if tag.startswith("activations/")]
        assert "activations/hidden_1" in histograms
        assert reader.Histograms("activations/hidden_1")[0].histogram_value.num > 0


def test_the_hparams_dashboard_lists_the_grid_the_seeds_and_the_final_metrics(swept):
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    sweep_dir, result = swept
    top = accumulate(sweep_dir / "tensorboard")
    content = top.PluginTagToContent(metadata.PLUGIN_NAME)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.EXPERIMENT_TAG]).experiment
    assert {h.name for h in experiment.hparam_infos} == {"model.kernel_initializer", "seed"}
    assert {m.name.tag for m in experiment.metric_infos} >= {"final/loss", "final/accuracy", "final/val_accuracy"}
    run = next(p for p in (sweep_dir / "tensorboard").iterdir() if p.is_dir())
    trial = accumulate(run).PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
    start = plugin_data_pb2.HParamsPluginData.FromString(trial).session_start_info
    assert start.hparams["model.kernel_initializer"].string_value in ("glorot_uniform", "he_normal")
    assert result.stdout.strip() == f"tensorboard --logdir {sweep_dir / 'tensorboard'}"
    assert "6 runs written to" in result.stderr


def test_the_logs_are_written_without_tensorflow(swept, tmp_path):
    import subprocess

    sweep_dir, _ = swept
    script = ("import pathlib, sys\n"
              "from initlab.output import tensorboard_logs\n"
              f"tensorboard_logs.write(pathlib.Path({str(sweep_dir)!r}), pathlib.Path({str(tmp_path / 'one')!r}))\n"
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = next(p for p in (tmp_path / "one").iterdir() if p.is_dir())
    assert accumulate(run).Scalars("epoch/loss")


def test_a_run_folder_and_a_folder_of_runs_and_bad_folders(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw_config(train={"epochs": 2})))
    assert runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "out")]).exit_code == 0
    (run,) = [p for p in (tmp_path / "out" / "test").iterdir() if run_folder.is_complete(p)]
    one = runner.invoke(app, ["tensorboard", str(run)])
    assert one.exit_code == 0 and one.stdout.strip() == f"tensorboard --logdir {tmp_path / 'out' / 'test' / 'tensorboard' / run.name}"
    assert run_folder.is_complete(run)  # beside the sealed folder, not in it
    every = runner.invoke(app, ["tensorboard", str(tmp_path / "out"), "--logdir", str(tmp_path / "logs")])
    assert every.exit_code == 0 and accumulate(tmp_path / "logs" / "test" / run.name).Scalars("epoch/accuracy")
    empty = runner.invoke(app, ["tensorboard", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no such folder" in empty.stderr and "Traceback" not in empty.output
    (tmp_path / "bare").mkdir()
    bare = runner.invoke(app, ["tensorboard", str(tmp_path / "bare")])
    assert bare.exit_code == 2 and "holds no complete run folder" in bare.stderr
