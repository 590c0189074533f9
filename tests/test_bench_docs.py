"""``python -m bench.docs`` puts the bench report into docs/benchmarks.md between its markers."""

from pathlib import Path

import pytest

from bench.docs import BEGIN, COUNT_BEGIN, COUNT_END, COUNT_HEADING, END, insert_report, main

ROOT = Path(__file__).resolve().parent.parent
BODY = "Run 2030-01-01 on 2 cores.\n\n| measure | figure |\n|---|---|\n| x | 1 s |"
REPORT = f"# Benchmark report\n\n{BODY}\n"
DOC = f"# Benchmarks\n\nBy hand.\n\n{BEGIN}\nold figures\n{END}\n\n## After\n\nMore.\n"


def test_the_report_replaces_what_was_between_the_markers():
    new = insert_report(DOC, REPORT)

    before, rest = new.split(BEGIN)
    inside, after = rest.split(END)
    assert before == DOC.split(BEGIN)[0]
    assert after == DOC.split(END)[1]
    assert inside.strip() == BODY
    assert "old figures" not in new
    assert "# Benchmark report" not in new


def test_inserting_the_same_report_again_changes_nothing():
    once = insert_report(DOC, REPORT)
    assert insert_report(once, REPORT) == once


@pytest.mark.parametrize("doc", ["no markers", f"{END}\nswapped\n{BEGIN}\n", f"only {BEGIN}"])
def test_a_page_without_its_markers_is_refused(doc):
    with pytest.raises(ValueError, match=r"no .* section to fill"):
        insert_report(doc, REPORT)


def test_the_command_writes_the_page_and_refuses_a_missing_report(tmp_path, capsys):
    report, doc = tmp_path / "report.md", tmp_path / "benchmarks.md"
    doc.write_text(DOC)

    assert main(["--report", str(report), "--doc", str(doc)]) == 1
    assert "Error: No such file or directory" in capsys.readouterr().err
    assert doc.read_text() == DOC

    report.write_text(REPORT)
    assert main(["--report", str(report), "--doc", str(doc)]) == 0
    assert doc.read_text() == insert_report(DOC, REPORT)


def test_the_benchmarks_page_has_the_section_the_command_fills():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    assert page.count(BEGIN) == 1
    assert page.count(END) == 1
    assert "| measure | figure | target | verdict |" in page.split(BEGIN)[1].split(END)[0]


HEAVY = "Scale 0.25 of the presets.\n\n| measure | figure | target | verdict |\n|---|---|---|---|"
COUNT_DOC = DOC + f"\n## Count-heavy\n\n{COUNT_BEGIN}\nold heavy\n{COUNT_END}\n\nEnd.\n"


def test_a_count_heavy_report_fills_its_own_section_and_leaves_the_main_one():
    report = f"# Benchmark report\n\nRun 2030-01-01 on 2 cores.\n\n{COUNT_HEADING}\n\n{HEAVY}\n"
    new = insert_report(COUNT_DOC, report)

    assert new.split(BEGIN)[1].split(END)[0].strip() == "old figures"
    heavy = new.split(COUNT_BEGIN)[1].split(COUNT_END)[0].strip()
    assert heavy == f"Run 2030-01-01 on 2 cores.\n\n{HEAVY}"
    assert insert_report(new, report) == new


def test_a_full_report_fills_both_sections():
    report = f"{REPORT}\n{COUNT_HEADING}\n\n{HEAVY}\n"
    new = insert_report(COUNT_DOC, report)

    assert new.split(BEGIN)[1].split(END)[0].strip() == BODY
    assert HEAVY in new.split(COUNT_BEGIN)[1].split(COUNT_END)[0]
    assert "old" not in new


def test_the_benchmarks_page_has_the_count_heavy_section():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    assert page.count(COUNT_BEGIN) == 1
    assert page.count(COUNT_END) == 1
