"""The report of a real tiny study: its numbers are the runs' numbers, the HTML renders in a
headless browser, and the LaTeX compiles where a TeX installation is present."""

import csv
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from lorascope.cli.main import main
from lorascope.records import RunFolder
from lorascope.reporting import build_report, compile_pdf
from lorascope.reporting.document import latex_escape
from lorascope.studies import load_study, run_study
from tests.studies.conftest import study_raw, write_study

HYPOTHESES = {
    "correction": "holm",
    "claims": [
        {
            "name": "LoRA non-inferior",
            "kind": "non-inferiority",
            "treatment": "lora-r4",
            "reference": "full",
            "margin": 0.05,
        },
        {
            "name": "LoRA drifts less",
            "kind": "reduction",
            "treatment": "lora-r4",
            "reference": "full",
            "metric": "drift",
            "fraction": 0.1,
        },
    ],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory, mini_glue):
    folder = tmp_path_factory.mktemp("report-study")
    raw = study_raw(mini_glue, baselines=["majority"])
    raw["base"]["drift"] = {"enabled": True, "every_steps": 6, "probe_size": 16}
    raw["hypotheses"] = HYPOTHESES
    run_study(load_study(write_study(folder / "study.yaml", raw)), folder / "out", echo=lambda line: None)
    out = folder / "out"
    return out, build_report(out)


def per_seed(out, task, method, metric):
    values = {}
    for path in (out / "runs").glob(f"{task}-{method}-seed*/results.json"):
        results = RunFolder(path.parent).results()
        values[results.seed] = results.metrics[metric]
    return [values[s] for s in sorted(values)]


def test_the_tables_hold_the_runs_numbers_with_t_intervals(study):
    out, written = study
    rows = {
        (r["task"], r["method"], r["metric"]): r for r in csv.DictReader((out / "report/tables/results_ci.csv").open())
    }
    values = per_seed(out, "stsb", "full", "pearson")
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    row = rows["stsb", "full", "pearson"]
    assert float(row["mean"]) == pytest.approx(np.mean(values)) and row["ci_method"] == "t"
    assert (float(row["ci_low"]), float(row["ci_high"])) == pytest.approx((low, high))
    assert ("stsb", "lora-r4", "pearson") in rows and ("sst2", "majority (baseline)", "accuracy") in rows
    [anova] = [r for r in csv.DictReader((out / "report/tables/anova.csv").open()) if r["task"] == "stsb"]
    expected = stats.f_oneway(per_seed(out, "stsb", "full", "pearson"), per_seed(out, "stsb", "lora-r4", "pearson"))
    assert float(anova["p"]) == pytest.approx(expected.pvalue)
    markdown = written["md"].read_text()
    for heading in (
        "## Setup",
        "## Results",
        "## Hypotheses",
        "## Representational drift",
        "## Limitations",
        "## Reproducibility",
        "## References",
    ):
        assert heading in markdown
    assert "| LoRA non-inferior | all |" in markdown and "figures/metrics.png" in markdown
    assert (out / "report/figures/metrics.pdf").read_bytes().startswith(b"%PDF")


def test_the_hypotheses_are_tested_on_paired_seeds(study):
    out, _ = study
    rows = list(csv.DictReader((out / "report/tables/hypotheses.csv").open()))
    sst2 = next(r for r in rows if r["hypothesis"] == "LoRA non-inferior" and r["task"] == "sst2")
    t, r = np.array(per_seed(out, "sst2", "lora-r4", "accuracy")), np.array(per_seed(out, "sst2", "full", "accuracy"))
    assert float(sst2["p_value"]) == pytest.approx(stats.ttest_1samp(t - 0.95 * r, 0, alternative="greater").pvalue)
    overall = [r for r in rows if r["task"] == "all"]
    assert [r["hypothesis"] for r in overall] == ["LoRA non-inferior", "LoRA drifts less"]
    assert all(r["correction"] == "holm" and r["p_adjusted"] for r in overall)


def test_the_html_is_self_contained_and_renders_its_tables_and_figures(study, tmp_path):
    out, written = study
    page = written["html"].read_text()
    assert page.count("data:image/png;base64,") >= 3 and 'src="figures/' not in page and "<table>" in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium not installed (Debian: apt install chromium)")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            written["html"].as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    bars = np.all(np.abs(pixels - [158, 202, 225]) < 12, axis=1).sum()  # the metric figure's bar colour
    text = (pixels.sum(axis=1) < 200).sum()  # dark pixels: headings, table text, rules
    assert bars > 2000 and text > 5000


def test_the_latex_compiles_to_a_pdf_where_tex_is_installed(study):
    _, written = study
    tex = written["tex"].read_text()
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and r"\cite{hu2022lora}" in tex
    assert (written["tex"].parent / "refs.bib").read_text().count("@") >= 5
    if not (shutil.which("latexmk") or shutil.which("pdflatex")):
        pytest.skip("no latexmk or pdflatex (Debian: apt install latexmk texlive-latex-recommended)")
    pdf = compile_pdf(written["tex"])
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000


def test_the_command_writes_the_formats_asked_for(study, tmp_path, capsys):
    out, _ = study
    assert main(["report", str(out), "--out", str(tmp_path / "md-only"), "--format", "md"]) == 0
    assert (tmp_path / "md-only" / "report.md").is_file() and not (tmp_path / "md-only" / "report.html").exists()
    assert main(["report", str(out), "--format", "md,docx"]) == 2
    assert "unknown docx" in capsys.readouterr().err


def test_latex_escaping_covers_special_characters_and_symbols():
    assert latex_escape("50% of r_2 & μ ≥ 1 {x}") == r"50\% of r\_2 \& $\mu$ $\geq$ 1 \{x\}"


def test_serving_results_in_the_study_folder_get_a_section_and_feed_overhead_claims(study, tmp_path):
    import yaml

    out, _ = study
    workload = {
        "base": "tiny-llama",
        "random_adapters": {"count": 2, "r": 4},
        "prompts": {"count": 4, "input_tokens": 8, "output_tokens": 4},
        "batch_sizes": [1, 2],
        "repetitions": 4,  # Welch's test with min(n) − 1 = 3 df: CPU timing noise cannot hide a 50x bound
        "warmup": 1,
    }
    spec = tmp_path / "w.yaml"
    spec.write_text(yaml.safe_dump(workload))
    assert main(["serve-bench", str(spec), "--out", str(out / "serving" / "tiny")]) == 0
    raw = yaml.safe_load((out / "study.yaml").read_text())
    raw["hypotheses"]["claims"].append(
        {
            "name": "adapters cost little",
            "kind": "overhead",
            "treatment": "adapters",
            "reference": "merged",
            "bound": 50.0,
        }
    )
    (out / "study.yaml").write_text(yaml.safe_dump(raw))
    written = build_report(out, tmp_path / "report", ("md",))
    markdown = written["md"].read_text()
    assert "## Serving cost" in markdown and "figures/serving_tiny.png" in markdown
    rows = list(csv.DictReader((tmp_path / "report" / "tables" / "hypotheses.csv").open()))
    serving = [r for r in rows if r["hypothesis"] == "adapters cost little"]
    assert {r["task"] for r in serving} == {"tiny · batch 1", "tiny · batch 2", "all"}
    assert all(r["holds"] == "True" for r in serving)  # a 50x bound holds on a CPU


def test_a_nan_seed_and_a_compound_claim_are_reported_not_dropped(study, tmp_path):
    import yaml

    out, _ = study
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    run = RunFolder(next((copy / "runs").glob("stsb-lora-r4-seed*/results.json")).parent)
    results = run.results()
    # a seed that collapsed to constant predictions: its undefined Pearson is written as null
    run.write_results(results.model_copy(update={"metrics": results.metrics | {"pearson": None}}))
    raw = yaml.safe_load((copy / "study.yaml").read_text())
    raw["hypotheses"]["compound"] = [{"name": "plan", "all": ["LoRA non-inferior", "LoRA drifts less"]}]
    (copy / "study.yaml").write_text(yaml.safe_dump(raw))
    written = build_report(copy, tmp_path / "report", ("md",))
    rows = list(csv.DictReader((tmp_path / "report/tables/hypotheses.csv").open()))
    stsb = next(r for r in rows if r["hypothesis"] == "LoRA non-inferior" and r["task"] == "stsb")
    assert not stsb["p_value"] and f"lora-r4 seed {results.seed}: pearson is NaN" in stsb["note"]
    overall = next(r for r in rows if r["hypothesis"] == "LoRA non-inferior" and r["task"] == "all")
    assert not overall["p_value"] and "not tested on every task" in overall["note"]
    plan = next(r for r in rows if r["hypothesis"] == "plan")
    assert plan["kind"] == "compound" and not plan["p_value"] and "LoRA non-inferior" in plan["note"]
    markdown = written["md"].read_text()
    limitations = markdown.split("## Limitations")[1].split("##")[0]
    assert "pearson is NaN" in limitations
    assert "LoRA non-inferior (" in markdown and "could not be evaluated" in markdown
    # scored by a declared rule instead: tested, and the row and report say so
    raw["hypotheses"]["claims"][0] |= {"missing": "score", "missing_score": 0.0}
    (copy / "study.yaml").write_text(yaml.safe_dump(raw))
    written = build_report(copy, tmp_path / "scored", ("md",))
    rows = list(csv.DictReader((tmp_path / "scored/tables/hypotheses.csv").open()))
    stsb = next(r for r in rows if r["hypothesis"] == "LoRA non-inferior" and r["task"] == "stsb")
    assert stsb["p_value"] and stsb["scored"] == "1" and "scored as 0" in stsb["note"]
    plan = next(r for r in rows if r["hypothesis"] == "plan")
    assert plan["p_value"] and "scored as 0" in written["md"].read_text()
