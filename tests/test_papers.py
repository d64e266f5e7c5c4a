"""`initlab reproduce --papers --quick`: every published claim replayed on a brief run (each claim's smaller sweep),
its verdict asserted from the table the command writes, and the figures beside it."""

import re

import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import catalog
from initlab.lab import papers

runner = CliRunner()
pytestmark = pytest.mark.slow  # one quick replay of every claim: about two minutes before the first test


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """One quick replay of every claim, as a user runs it: {claim: its table row}, and the docs folder."""
    root = tmp_path_factory.mktemp("papers")
    result = runner.invoke(app, ["reproduce", "--papers", "--quick", "--docs", str(root / "docs"), "--out", str(root / "out")])
    assert result.exit_code == 0, result.output
    lines = (root / "docs" / "tables" / "papers.md").read_text().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (cell.strip() for cell in line.strip("|").split(" | ")))) for line in lines[2:]]
    by_claim = {re.search(r"papers/(\w+)\.yaml", row["config"]).group(1): row for row in rows}
    return by_claim, root / "docs"


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)]


def test_every_claim_has_a_row_and_a_figure(replayed):
    rows, docs = replayed
    assert set(rows) == set(papers.CLAIMS)
    assert {p.name for p in (docs / "figures").iterdir()} == {f"papers_{name}.png" for name in papers.CLAIMS}
    assert all(row["verdict"].split(":")[0] in ("holds", "holds qualitatively", "differs") for row in rows.values())
    assert all(row["baseline"] for row in rows.values())  # every claim scored against a rule that ignores it


def test_glorot2010_standard_init_shrinks_a_third_per_layer_normalized_holds(replayed):
    row = replayed[0]["glorot2010"]
    standard_forward, standard_backward, normalized_forward, normalized_backward, off = _numbers(row["measured"])
    baseline_off = _numbers(row["baseline"])[-1]
    assert row["verdict"] == "holds" and off < baseline_off and "differ beyond seed noise" in row["baseline"]
    assert standard_forward == pytest.approx(1 / 3, abs=0.1) and standard_backward == pytest.approx(1 / 3, abs=0.1)
    assert normalized_forward > 0.67 and normalized_backward > 0.67


def test_he2015_one_over_n_halves_two_over_n_holds_and_glorot_stalls_at_30_layers(replayed):
    row = replayed[0]["he2015"]
    glorot, he, glorot_loss, he_loss = _numbers(row["measured"])[:4]
    assert row["verdict"] == "holds" and "differ beyond seed noise" in row["baseline"]
    assert glorot == pytest.approx(0.5, abs=0.1) and he == pytest.approx(1.0, abs=0.1)
    assert glorot_loss >= papers.STALLED > papers.TRAINS > he_loss
    assert "100% of 6 runs stall or train as the claim says" in row["measured"] and "alike: 50% of the runs" in row["baseline"]


def test_saxe2014_orthogonal_preserves_norms_and_its_learning_time_stays_flat(replayed):
    row = replayed[0]["saxe2014"]
    exact, loose = _numbers(row["measured"])[:2]
    assert exact <= 1e-4 < 0.05 < loose  # orthogonal: float32 rounding only; Gaussian: norms spread
    orthogonal, gaussian = (list(map(float, re.findall(r"[\d.]+", part))) for part in
                            re.search(r"orthogonal ([\d., ]+), Gaussian ([\d., ]+)", row["measured"]).groups())
    assert orthogonal[-1] <= 1.5 * orthogonal[0] and gaussian[-1] > orthogonal[-1]
    assert "slower beyond seed noise" in row["baseline"]  # three seeds a depth tell the two apart
    # the brief run stops at depth 16, where the Gaussian nets are 1.75x slower, short of the 2x margin (the full
    # sweep's depth 32: 3.25x, "holds")
    assert row["verdict"].startswith("holds qualitatively")


def test_mishkin2016_lsuv_variance_one_and_the_thin_net_trains_where_small_init_stalls(replayed):
    row = replayed[0]["mishkin2016"]
    worst, small, lsuv, _ = _numbers(row["measured"].replace("N(0, 0.01^2)", "small init"))
    assert worst < 0.1 and small >= papers.STALLED > papers.TRAINS > lsuv
    he_spread, he_loss = _numbers(row["baseline"])[-2:]
    assert he_spread > 0.1  # He's 2/n keeps E[z^2] level, not at 1
    # "holds" only when LSUV's loss beats He's data-free init beyond seed noise (the full sweep: it does); the brief
    # run's few epochs may not tell them apart
    if "above LSUV's beyond seed noise" in row["baseline"]:
        assert row["verdict"] == "holds" and he_loss > lsuv
    else:
        assert "not beaten by LSUV's" in row["baseline"] and row["verdict"].startswith("holds qualitatively")


def test_schoenholz2017_phase_diagram_measured_against_six_xi_and_a_rule_that_ignores_it(replayed):
    row = replayed[0]["schoenholz2017"]
    agree = float(re.search(r"(\d+)% of", row["measured"]).group(1))
    baseline = float(re.search(r"whatever its sigma_w\^2: (\d+)% of the cells", row["baseline"]).group(1))
    assert "critical sigma_w^2 (chi_1 = 1) computed 1.761" in row["measured"]  # published: ~1.76
    deepest = {w: int(d) for w, d in re.findall(r"([\d.]+): (\d+)", row["measured"].split("sigma_w^2: ")[1])}
    on_the_line = deepest["1.76"] > max(d for w, d in deepest.items() if w != "1.76")
    # 2 x 3 cells and 4 epochs: sigma_w^2 = 1 still trains at depth 24 (6 xi_c = 22) and 4 does not (6 xi_c = 42):
    # the theory places 4 of 6 cells, "every net up to depth 24 trains" 5 of 6, and depth 24 trains at 1 and 1.76
    assert agree <= baseline and not on_the_line
    assert row["verdict"].startswith("differs")  # the numbers do not support "holds" (it said so before)


def test_each_paper_sweep_has_its_header_and_an_index_entry():
    folder = catalog.folder() / "papers"
    assert set(catalog.papers()) == set(papers.CLAIMS)
    for name in papers.CLAIMS:
        text = (folder / f"{name}.yaml").read_text()
        for part in ("# Source:", "# Setup:", "# Published:", "# How far ours may fall:"):
            assert part in text, (name, part)
        raw = yaml.safe_load(text)
        assert (folder / raw["base"]).is_file()


def test_an_unknown_claim_is_refused_with_one_line(tmp_path):
    result = runner.invoke(app, ["reproduce", "--papers", "--only", "he2016", "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 2 and "did you mean 'he2015'" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "docs").exists()


def test_a_verdict_holds_only_when_the_claim_beats_the_rule_that_ignores_it():
    assert papers._verdict(True, True, "m", "b", "missed", "lost").verdict == "holds"
    assert papers._verdict(False, True, "m", "b", "missed", "lost").why == "missed"  # holds qualitatively
    inside_but_no_better = papers._verdict(True, False, "m", "b", "missed", "lost")
    assert (inside_but_no_better.verdict, inside_but_no_better.why) == ("differs", "lost")


def test_two_cases_are_apart_only_beyond_seed_noise_with_three_seeds_or_more():
    assert papers._apart([2.30, 2.30, 2.30], [0.40, 0.41, 0.39])
    assert not papers._apart([2.30, 2.30], [0.40, 0.41])  # two seeds: the spread is not measured
    assert not papers._apart([2.30, 2.30, 2.30], [1.65, 2.04, 1.95])  # He's brief run: p = 0.07 with 3 seeds
    factors = {"standard": 0.33, "normalized": 0.81}
    pooled = papers._one_for_all(factors)
    assert pooled["standard"] == pooled["normalized"] == pytest.approx((0.33 * 0.81) ** 0.5)
    assert papers._log_error(factors, papers.GLOROT_PREDICTED) < papers._log_error(factors, pooled)


def test_hanin2018_variance_lines_up_on_beta_better_than_on_the_narrowest_layer(replayed):
    row = replayed[0]["hanin2018"]
    r2 = float(re.search(r"R\^2 = ([\d.]+)", row["measured"]).group(1))
    narrowest = float(re.search(r"R\^2 = ([\d.]+)", row["baseline"]).group(1))
    assert r2 > narrowest and "differ beyond seed noise" in row["baseline"]
    # 250 draws a profile: R^2 about 0.8, short of the 0.9 margin the full replay's 2,000 draws meet (0.96, "holds")
    assert row["verdict"].startswith("holds")


def test_yang2022_sp_optimum_moves_with_width_and_mup_stays(replayed):
    row = replayed[0]["yang2022"]
    sp, _, sp_high, mup, _, _, span = _numbers(row["measured"].split("per doubling of width: ")[1])[:7]
    # the brief replay (widths 128 and 512, 1 epoch on 600 images): SP -1.04 [-1.59, -0.50], muP -0.13 [-0.26, 0.01]
    assert sp_high < 0 and abs(sp + 1) <= 0.5 and abs(mup) < 0.3 and span <= 1
    assert "apart beyond seed noise" in row["baseline"] and "not told" not in row["baseline"]
    assert row["verdict"] == "holds" and "9.77e-04 at 128, 1.22e-04 at 1024" in row["measured"]


def test_lu2019_narrow_deep_nets_are_born_dead_more_often_and_rai_lowers_it(replayed):
    row = replayed[0]["lu2019"]
    he, rai = row["measured"].split("; RAI: ")[0], row["measured"].split("; RAI: ")[1].split("; every")[0]
    he_width = {int(w): float(p) for w, p in re.findall(r"width (\d+) ([\d.]+) \[", he)}
    rai_width = {int(w): float(p) for w, p in re.findall(r"width (\d+) ([\d.]+) \[", rai)}
    assert he_width[2] > he_width[3] > he_width[10] and he_width[10] < 0.05  # narrower: dead more often (depth 10)
    assert all(rai_width[w] < he_width[w] for w in rai_width)
    assert "meets the two-ray bounds" in row["measured"] and ", apart;" in row["baseline"]
    assert row["verdict"] == "holds"  # 300 draws a case: the readings at depth 10 and the bounds are met


def test_pennington2017_orthogonal_tanh_keeps_the_jacobian_concentrated_and_trains_faster(replayed):
    row = replayed[0]["pennington2017"]
    growth = {case: (float(measured), float(predicted)) for case, measured, predicted in re.findall(
        r"(orthogonal tanh|Gaussian tanh|orthogonal ReLU|Gaussian ReLU) ([\d.e-]+) \(([\d.e-]+)\)", row["measured"])}
    assert set(growth) == {"orthogonal tanh", "Gaussian tanh", "orthogonal ReLU", "Gaussian ReLU"}
    assert growth["orthogonal tanh"][0] < 0.02 < 0.5 < min(g for case, (g, _) in growth.items() if case != "orthogonal tanh")
    assert [p for _, p in growth.values()] == pytest.approx([0.00169, 1.0, 1.0, 2.0], abs=0.005)  # free probability
    average = dict(re.findall(r"(orthogonal tanh|Gaussian tanh) ([\d.]+)", row["measured"].split("epochs (mean of")[1]))
    assert float(average["orthogonal tanh"]) < float(average["Gaussian tanh"])
    assert "below every other case's beyond draw noise" in row["baseline"] and "differ beyond seed noise" in row["baseline"]
    # the brief replay (8 draws to depth 32, two tanh cases trained 3 epochs): every growth inside its margin
    assert row["verdict"] == "holds"


def test_de2020_he_doubles_batch_norm_adds_one_skipinit_and_fixup_flat_and_only_they_train(replayed):
    row = replayed[0]["de2020"]
    measured = row["measured"]
    slope = float(re.search(r"log2 variance per block ([\d.]+)", measured).group(1))
    added = float(re.search(r"batch-normalized adds ([\d.]+)", measured).group(1))
    r2 = float(re.search(r"linear R\^2 ([\d.]+)", measured).group(1))
    # the brief replay (16 blocks, 20 draws a case, 1 epoch): slope 1.07 [1.04, 1.11], adds 1.05, R^2 0.996
    assert abs(slope - 1) <= 0.1 and abs(added - 1) <= 0.2 and r2 >= 0.98
    assert "SkipInit 0 and Fixup 0 bits" in measured and measured.count("(diverged)") == 3
    assert "9 of 9 runs fail or train as the claim says" in measured
    assert "differ beyond draw noise" in row["baseline"] and "differ beyond seed noise" in row["baseline"]
    assert row["verdict"] == "holds"
