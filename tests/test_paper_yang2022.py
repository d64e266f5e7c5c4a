"""Yang et al. 2022's claim measured (initlab/lab/paper_yang2022.py): the optimum per seed, its interval per width,
the slope against width and the verdict, against hand-computed oracles on synthetic loss tables; and the sweep
trains one population per (parametrization, width)."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from initlab.config import catalog
from initlab.lab import paper_yang2022 as yang, papers, sweep as sweep_module
from initlab.output import learning_rate_plots

GRID = [2.0 ** e for e in range(-14, -3)]  # log2 steps of 1


def _table(optimum_of, widths=(128, 256, 512), seeds=(0, 1, 2), diverge_above=None) -> pd.DataFrame:
    """A parabola in log2(lr) per (parametrization, width, seed), its vertex at optimum_of(p, width, seed); runs
    above diverge_above (log2) diverged (+inf)."""
    rows = []
    for p in ("standard", "mup"):
        for width in widths:
            for seed in seeds:
                best = optimum_of(p, width, seed)
                for rate in GRID:
                    x = math.log2(rate)
                    loss = math.inf if diverge_above is not None and x > diverge_above else 0.1 + 0.05 * (x - best) ** 2
                    rows.append({"parametrization": p, "width": width, "seed": seed, "learning_rate": rate, "loss": loss})
    return pd.DataFrame(rows)


def test_the_parabola_through_the_argmin_and_its_neighbours_finds_the_vertex():
    x = np.arange(-14.0, -3.0)
    assert yang.optimum(x, (x + 9.3) ** 2) == (pytest.approx(-9.3), True)  # a parabola: exact
    assert yang.optimum(x, np.abs(x + 9)) == (-9.0, True)  # symmetric neighbours: the grid point
    # neighbours 1 and 3 above the minimum: the vertex of the parabola through (-1, 1), (0, 0), (1, 3) is at -1/4
    y = np.full(len(x), 10.0)
    y[4:7] = [1.0, 0.0, 3.0]
    assert yang.optimum(x, y) == (pytest.approx(x[5] - 0.25), True)
    assert yang.optimum(x, x) == (-14.0, False)  # the grid's edge: not interior
    y[6] = math.inf  # beside a diverged run: the grid point
    assert yang.optimum(x, y) == (x[5], True)
    shuffled = np.random.default_rng(0).permutation(len(x))
    assert yang.optimum(x[shuffled], ((x + 9.3) ** 2)[shuffled])[0] == pytest.approx(-9.3)


def test_optima_intervals_and_slopes_against_hand_computed_values():
    # SP: -10 at 128, one step lower per doubling, seeds 0.1 apart; muP: -9 at every width, seeds 0.2 apart
    table = _table(lambda p, w, s: (-10 - math.log2(w / 128) if p == "standard" else -9.0) + (0.1 if p == "standard" else 0.2) * s)
    found = yang.measure(table)
    summary = found["summary"].set_index(["parametrization", "width"])
    # seeds -10, -9.9, -9.8: mean -9.9, std 0.1, t(0.975, 2) = 4.303: half width 4.303 * 0.1 / sqrt(3) = 0.2484
    row = summary.loc[("standard", 128)]
    assert row["mean"] == pytest.approx(-9.9) and row["high"] - row["mean"] == pytest.approx(0.24841, abs=1e-4)
    assert summary.loc[("standard", 512), "mean"] == pytest.approx(-11.9)
    assert found["slopes"]["standard"] == pytest.approx([-1.0, -1.0, -1.0])  # each seed: exactly one step per doubling
    assert found["slopes"]["mup"] == pytest.approx([0.0, 0.0, 0.0])
    assert found["sp"][0] == pytest.approx(-1.0) and found["mup_range"] == pytest.approx(0.0)
    assert found["step"] == 1.0 and found["edge"] == 0
    assert yang.slope([128, 256, 512], [-10, -10.5, -12]) == pytest.approx(-1.0)  # least squares: (-2) / 2


def test_diverged_runs_count_as_infinite_loss():
    table = _table(lambda p, w, s: -6.0, diverge_above=-6.5)  # everything above the grid point -7 diverged
    found = yang.optima(table)
    assert (found["log2_optimum"] == -7.0).all()  # the argmin beside a diverged run: no parabola through inf


def _runs_like(table: pd.DataFrame, tmp_path):
    """(planned run, folder) pairs whose summary.json holds the table's losses, as a finished sweep leaves them."""
    import json
    from types import SimpleNamespace

    runs = []
    for i, row in table.iterrows():
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        loss = None if math.isinf(row["loss"]) else row["loss"]
        (folder / "summary.json").write_text(json.dumps({"final": {"loss": loss}, "diverged_at_epoch": None}))
        config = SimpleNamespace(model=SimpleNamespace(parametrization=row["parametrization"], hidden=[row["width"]] * 2),
                                 train=SimpleNamespace(learning_rate=row["learning_rate"]), seed=row["seed"])
        runs.append((SimpleNamespace(config=config, seed=row["seed"]), folder))
    return runs


@pytest.mark.parametrize("sp_shift, expected", [(1.0, "holds"), (0.4, "holds qualitatively"), (0.0, "differs")])
def test_the_verdict_needs_sp_to_move_and_mup_to_stay_beyond_seed_noise(tmp_path, sp_shift, expected):
    table = _table(lambda p, w, s: (-10 - sp_shift * math.log2(w / 128) if p == "standard" else -9.0) + 0.1 * s * (s - 1))
    found = yang.claim(_runs_like(table, tmp_path), tmp_path / "figure.png", papers._apart)
    verdict = papers._verdict(found["within"], found["beats"], found["measured"], found["baseline"], found["missed"],
                              found["lost"])
    assert verdict.verdict == expected
    assert (tmp_path / "figure.png").stat().st_size > 10_000
    assert "a public replay, SP: 9.77e-04 at 128, 1.22e-04 at 1024" in found["measured"]


@pytest.mark.parametrize("quick", [True, pytest.param(False, marks=pytest.mark.slow)])  # full: 312 runs validated, 30 s
def test_the_sweep_trains_one_population_per_parametrization_and_width(tmp_path, quick):
    plan = sweep_module.plan(papers.sweep_file("yang2022", tmp_path, quick), [], tmp_path)
    groups = sweep_module.groups(plan.resolved)
    keys = [{(plan.resolved[i].model.parametrization, plan.resolved[i].model.hidden[0]) for i in group} for group in groups]
    assert all(len(key) == 1 for key in keys)  # a group never mixes widths or parametrizations
    assert len(groups) == len({next(iter(key)) for key in keys}) == len(plan.sweep.cases)  # and one group each
    rates = {run.config.train.learning_rate for run in plan.planned}
    assert len(groups[0]) == len(rates) * len(plan.sweep.seeds) <= sweep_module.MAX_POPULATION


def test_the_lesson_is_the_claims_sweep_under_another_name():
    """digits_wider (docs/width.md) and papers/yang2022.yaml train the same runs: one measurement, two readers."""
    lesson, paper = (yaml.safe_load(path.read_text()) for path in
                     (catalog.path("digits_wider"), catalog.papers_folder() / "yang2022.yaml"))
    assert [lesson[key] for key in ("cases", "grid", "seeds")] == [paper[key] for key in ("cases", "grid", "seeds")]


@pytest.mark.slow  # 264 brief runs: about a minute
def test_reproduce_draws_the_lessons_learning_rate_curves_and_tables_each_optimum(tmp_path):
    from typer.testing import CliRunner

    from initlab.cli import app

    docs = tmp_path / "docs"
    result = CliRunner().invoke(app, ["reproduce", "--quick", "--only", "digits_wider", "--docs", str(docs),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (docs / "figures" / "digits_wider_learning_rates.png").stat().st_size > 20_000
    lines = (docs / "tables" / "digits_wider.md").read_text().splitlines()
    assert lines[0].startswith("| width | SP optimum lr [95%]") and [line.split(" | ")[0] for line in lines[2:]] == \
        ["| 128", "| 256", "| 512", "| 1024"]
    assert all(re.search(r"\d\.\d\de-0\d \[\d\.\d\de-0\d, \d\.\d\de-0\d\]", line) for line in lines[2:])


def test_the_learning_rate_picture_draws_each_width_s_curve_and_its_optimum_leaving_diverged_points_out():
    x = [-12.0, -11.0, -10.0, -9.0]
    panels = {"SP": {128: (x, [0.9, 0.2, 0.4, math.inf], (-11.2, -11.6, -10.8)),
                     512: (x, [0.5, 0.3, 0.6, 2.0], (-11.0, math.nan, math.nan))},
              "muP": {128: (x, [0.8, 0.25, 0.3, 0.7], (-10.5, -10.9, -10.1))}}
    figure = learning_rate_plots.learning_rate_curves_figure(panels, "lr")
    drawn = [ax for ax in figure.axes if ax.get_lines()]
    assert [ax.get_title() for ax in drawn] == ["SP", "muP"]
    curves = {line.get_label(): line for line in drawn[0].get_lines() if line.get_label().startswith("width")}
    np.testing.assert_array_equal(curves["width 128"].get_xdata(), x[:3])  # the diverged point is left out
    np.testing.assert_array_equal(curves["width 128"].get_ydata(), [0.9, 0.2, 0.4])
    np.testing.assert_array_equal(curves["width 512"].get_ydata(), [0.5, 0.3, 0.6, 2.0])
    stars = [line for line in drawn[0].get_lines() if line.get_marker() == "*"]
    assert [(float(s.get_xdata()[0]), float(s.get_ydata()[0])) for s in stars] == [(-11.2, 0.2), (-11.0, 0.3)]
    bars = [c for c in drawn[0].collections if len(c.get_segments())]
    assert len(bars) == 1  # the optimum without an interval (nan) has no bar
    (start, end), = [segment[:, 0] for segment in bars[0].get_segments()]
    assert (start, end) == (-11.6, -10.8)
    assert drawn[0].get_yscale() == "log" and drawn[0].get_ylim()[1] == pytest.approx(2.0)
