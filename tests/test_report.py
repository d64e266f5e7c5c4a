"""A sweep's comparisons with their uncertainty: 95% t-intervals over seeds and Welch's test between cells."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from initlab.output import sweep_report


def test_t_interval_is_the_textbook_one():
    low, high = sweep_report.t_interval([1.0, 2.0, 3.0])  # mean 2, std 1, n 3: t(0.975, 2) = 4.303 (any t table)
    assert (low, high) == pytest.approx((2 - 4.303 / np.sqrt(3), 2 + 4.303 / np.sqrt(3)), abs=1e-3)
    values = np.random.default_rng(0).normal(size=200)  # large n: the normal 1.96 within a percent
    low, high = sweep_report.t_interval(values)
    assert (high - low) / 2 == pytest.approx(1.96 * values.std(ddof=1) / np.sqrt(200), rel=0.01)
    assert np.isnan(sweep_report.t_interval([0.7])).all() and np.isnan(sweep_report.t_interval([0.7, np.nan])).all()


def test_welch_p_separates_distinct_cells_and_not_noisy_ones():
    assert sweep_report.welch_p([0.90, 0.91, 0.92], [0.50, 0.52, 0.51]) < 0.001
    assert sweep_report.welch_p([0.5, 0.6, 0.7], [0.55, 0.65, 0.52]) > 0.5
    a, b = [0.1, 0.4, 0.2, 0.3], [0.35, 0.3, 0.5, 0.45]
    assert sweep_report.welch_p(a, b) == pytest.approx(sweep_report.welch_p(b, a))
    # by hand: t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b), df by Welch-Satterthwaite
    from scipy import stats

    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 4
    t = (np.mean(a) - np.mean(b)) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    assert sweep_report.welch_p(a, b) == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert sweep_report.welch_p([0.5, 0.5], [0.5, 0.5]) == 1.0 and sweep_report.welch_p([0.5, 0.5], [0.6, 0.6]) == 0.0
    assert np.isnan(sweep_report.welch_p([0.5], [0.6, 0.7]))


seed_values = st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(a=seed_values, b=seed_values)
def test_welch_p_and_t_interval_are_scipy_stats_own(a, b):
    """The oracle: scipy.stats, which report leaves unimported (0.5 s) for the scipy.special functions it calls."""
    from scipy import stats

    if np.std(a) > 0 or np.std(b) > 0:
        with warnings.catch_warnings():  # nearly equal values: scipy warns of precision loss
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = stats.ttest_ind(a, b, equal_var=False).pvalue
        assert sweep_report.welch_p(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-300, nan_ok=True)
    mean, half = np.mean(a), stats.t.ppf(0.975, len(a) - 1) * np.std(a, ddof=1) / np.sqrt(len(a))
    assert sweep_report.t_interval(a) == pytest.approx((mean - half, mean + half), rel=1e-12, abs=1e-12)


def _frame():
    rows = []
    for activation, shift in (("relu", 0.0), ("tanh", 0.3)):
        for init, accuracies in (("zeros", [0.5, 0.5, 0.5]), ("he", [0.90, 0.92, 0.91]), ("glorot", [0.91, 0.89, 0.93])):
            for seed, accuracy in enumerate(accuracies):
                rows.append({"model.kernel_initializer": init, "model.activation": activation, "seed": seed,
                             "status": "ok", "loss": 1 - accuracy, "accuracy": accuracy - shift * (init == "he")})
    return pd.DataFrame(rows)


def test_summary_keeps_its_columns_and_adds_the_intervals():
    frame = _frame()
    summary = sweep_report.summarize(frame, ["model.kernel_initializer", "model.activation"])
    for stat in ("mean", "std", "min", "max", "ci95_low", "ci95_high"):
        assert f"accuracy_{stat}" in summary.columns
    he = summary[(summary["model.kernel_initializer"] == "he") & (summary["model.activation"] == "relu")].iloc[0]
    assert (he["accuracy_ci95_low"], he["accuracy_ci95_high"]) == pytest.approx(sweep_report.t_interval([0.90, 0.92, 0.91]))


def test_differences_compare_the_first_key_within_each_value_of_the_others():
    pairs = sweep_report.differences(_frame(), ["model.kernel_initializer", "model.activation"])
    assert len(pairs) == 6 and set(pairs["compared"]) == {"model.kernel_initializer"}
    by = pairs.set_index(["model.activation", "a", "b"])
    assert by.loc[("relu", "zeros", "he"), "accuracy_beyond_noise"] == "yes"
    assert by.loc[("relu", "he", "glorot"), "accuracy_beyond_noise"] == "no"
    assert by.loc[("tanh", "he", "glorot"), "accuracy_beyond_noise"] == "yes"  # he is 0.3 lower with tanh
    assert by.loc[("tanh", "he", "glorot"), "accuracy_diff"] == pytest.approx(-0.3)
    text = sweep_report.differences_text(pairs)
    assert "two-sided t-test over seeds" in text and "paired by seed" in text and "p < 0.05" in text
    assert "| relu | zeros | he |" in text and "1 time in 20 by chance alone" in text  # 3 seeds: C(6, 3) = 20
    assert set(pairs["test"]) == {"paired"}  # every cell ran seeds 0, 1, 2


def _summary(tensorflow: str, isa: str | None = "AVX2", commit: str | None = "abc", status: str = "ok") -> dict:
    summary = {"status": status, "versions": {"python": "3.11.7", "tensorflow": tensorflow, "keras": "3.15.1"},
               "git_commit": commit}
    if isa is not None:
        summary["numerics"] = {"onednn_max_cpu_isa": isa}
    return summary


def test_a_report_says_when_its_runs_were_not_made_alike():
    alike = [_summary("2.21.0"), _summary("2.21.0"), None,  # None: a run not complete
             _summary("2.21.0", isa=None, status="failed")]  # a failed run: the writer's setup, not a trainer's
    assert sweep_report.setups_text(alike) == ""
    mixed = sweep_report.setups_text([_summary("2.21.0"), _summary("2.21.0"), _summary("2.20.0", isa=None)])
    assert "Not every run was made alike" in mixed and "--rerun" in mixed
    assert "tensorflow 2.21.0 (2 runs), 2.20.0 (1 run)" in mixed
    assert "onednn_max_cpu_isa AVX2 (2 runs), not recorded (1 run)" in mixed  # a folder from before the record
    assert "keras" not in mixed and "git commit" not in mixed


@pytest.mark.slow
def test_a_resumed_sweep_whose_runs_came_from_another_setup_is_marked_in_its_report(tmp_path):
    import json

    from tests.test_sweep import invoke, write_sweep

    path = write_sweep(tmp_path, {"name": "mixed", "base": "base.yaml", "grid": {"model.kernel_initializer":
                                                                               ["glorot_uniform"]}, "seeds": [0, 1]})
    out = tmp_path / "out"
    assert invoke(path, out, "--no-pictures").exit_code == 0
    sweep_dir = out / "mixed"
    assert "Not every run was made alike" not in (sweep_dir / "report.md").read_text()
    folders = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    made = json.loads((folders[0] / "summary.json").read_text())
    assert made["numerics"] == {"onednn_max_cpu_isa": "AVX2"} and made["versions"]["tensorflow"]
    today = made["versions"]["tensorflow"]
    made["versions"]["tensorflow"] = "2.0.0"  # as if trained before an upgrade
    (folders[0] / "summary.json").write_text(json.dumps(made))
    rerun = tmp_path / "again.yaml"
    rerun.write_text(path.read_text().replace("- 0\n- 1\n", "- 0\n- 1\n- 2\n"))
    assert invoke(rerun, out, "--no-pictures").exit_code == 0  # trains seed 2, keeps the two complete runs
    text = (sweep_dir / "report.md").read_text()
    assert f"**Not every run was made alike**: tensorflow {today} (2 runs), 2.0.0 (1 run)." in text


def test_an_interval_stays_inside_its_metrics_range_and_needs_three_seeds():
    two = sweep_report.seed_interval([0.5, 0.95], "accuracy")  # the t-interval would be [-2.36, 3.81]
    assert np.isnan(two).all()
    low, high = sweep_report.seed_interval([0.97, 0.99, 1.0], "accuracy")
    assert high == 1.0 and low == pytest.approx(sweep_report.t_interval([0.97, 0.99, 1.0])[0])
    low, high = sweep_report.seed_interval([0.01, 0.3, 0.02], "loss")
    assert low == 0.0 and high == pytest.approx(sweep_report.t_interval([0.01, 0.3, 0.02])[1])


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=3, max_size=12))
def test_every_accuracy_interval_is_within_zero_and_one(values):
    low, high = sweep_report.seed_interval(values, "val_accuracy")
    assert 0.0 <= low <= np.mean(values) + 1e-12 and np.mean(values) - 1e-12 <= high <= 1.0


def test_a_two_seed_report_gives_means_without_intervals_and_says_why(tmp_path):
    frame = _frame()
    two = frame[frame["seed"] < 2]
    summary = sweep_report.summarize(two, ["model.kernel_initializer", "model.activation"])
    assert summary["accuracy_ci95_low"].isna().all() and summary["loss_ci95_high"].isna().all()
    table = sweep_report.readable(summary, ["accuracy"])
    assert not table["accuracy mean [95% CI]"].str.contains(r"\[").any()
    text = sweep_report.intervals_text(summary)
    assert "6 of 6 cells have fewer complete runs" in text and "not be meaningful" in text
    assert "fewer" not in sweep_report.intervals_text(sweep_report.summarize(frame, ["model.kernel_initializer"]))


def test_a_difference_of_one_validation_example_is_not_called_real():
    """Two cells without spread over 2 seeds, 0.05 apart on 20 validation rows: one example, within the rows' noise."""
    rows = [{"model.kernel_initializer": init, "seed": seed, "status": "ok", "val_accuracy": value, "val_rows": 20,
             "train_rows": 80, "accuracy": 0.9}
            for init, value in (("he", 0.90), ("glorot", 0.85)) for seed in (0, 1)]
    pairs = sweep_report.differences(pd.DataFrame(rows), ["model.kernel_initializer"])
    row = pairs.iloc[0]
    assert row["val_accuracy_p"] == 0.0 and row["val_accuracy_rows_p"] > 0.5  # seeds say yes, the rows say no
    assert row["val_accuracy_beyond_noise"] == "no"
    assert sweep_report.rows_p(0.90, 0.88, 20) == 1.0  # less than one example apart
    assert sweep_report.rows_p(0.95, 0.55, 200) < 1e-6
    # the training rows are the set both fits were judged on: only the one-example rule applies there
    assert sweep_report.rows_p(0.90, 0.85, 20, sampled=False) == 0.0 and sweep_report.rows_p(0.90, 0.88, 20, False) == 1.0
    from scipy import stats  # the two-proportion z-test, by its textbook formula

    z = 0.1 / np.sqrt((0.9 * 0.1 + 0.8 * 0.2) / 200)
    assert sweep_report.rows_p(0.9, 0.8, 200) == pytest.approx(2 * stats.norm.sf(z))


def test_cells_on_the_same_seeds_are_compared_pair_by_pair():
    from scipy import stats

    a, b = [0.80, 0.70, 0.90, 0.60], [0.82, 0.71, 0.93, 0.61]  # b is always a little higher: paired, it shows
    assert sweep_report.paired_p(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert sweep_report.paired_p(a, b) < 0.05 < sweep_report.welch_p(a, b)
    assert sweep_report.seeds_needed(a, b) > 4 and np.isnan(sweep_report.seeds_needed([0.5], b))
