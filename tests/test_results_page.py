"""benchmarks/results.md: each benchmark script replaces its own section, however its text opens."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("results_page",
                                              Path(__file__).parents[1] / "benchmarks" / "results_page.py")
results_page = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_page)


def test_a_section_replaces_its_own_and_stale_copies_go_whatever_blank_lines_open_it(tmp_path):
    page = tmp_path / "results.md"
    page.write_text("# A\n\nold a\n\n# B\n\nold b\n\n# A\n\nstale a\n")
    results_page.update("\n# A\n\nnew a\n", page)  # the sweep benchmark's section opens with a blank line
    assert page.read_text() == "# A\n\nnew a\n\n# B\n\nold b\n"
    results_page.update("# C\n\nc\n", page)
    assert results_page.sections(page.read_text())[-1] == "# C\n\nc\n"
