"""The command line as a user meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE


def test_validate_example_prints_the_summary(run_cli):
    result = run_cli("validate", EXAMPLE)
    assert result.code == 0, result.err
    assert "23 studies, 140 patients" in result.out
    assert "relief (%): n 140, median" in result.out
    assert "responders (relief >= 40 %)" in result.out
    assert "'facial pain after brainstem infarction' -> central" in result.out
    assert "The data can be analysed." in result.out


def test_validate_json(run_cli):
    result = run_cli("validate", EXAMPLE, "--json")
    payload = json.loads(result.out)
    assert payload["ok"] is True
    assert payload["summary"]["n_patients"] == 140
    assert {r["threshold"] for r in payload["summary"]["responders"]} == {30.0, 40.0, 50.0}


def test_validate_json_lists_problems(tmp_path, run_cli):
    (tmp_path / "patients.csv").write_text("study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,x\n")
    result = run_cli("validate", tmp_path, "--json")
    assert result.code == 2
    (problem,) = json.loads(result.out)["problems"]
    assert (
        problem["rows"] == [2] and problem["column"] == "relief_pct" and problem["value"] == "'x'"
    )


def test_validate_options(tmp_path, run_cli):
    (tmp_path / "p.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,-20\nS1,2,TN,35\n"
    )
    result = run_cli("validate", tmp_path / "p.csv", "--worsening", "floor", "--thresholds", "35")
    assert result.code == 0
    assert "range 0.0 to 35.0" in result.out
    assert "responders (relief >= 35 %): 1/2" in result.out


def test_bad_threshold_is_a_usage_error(run_cli, capsys):
    try:
        run_cli("validate", EXAMPLE, "--thresholds", "forty")
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "expected numbers separated by commas" in capsys.readouterr().err


def test_simulate_writes_a_valid_review(tmp_path, run_cli):
    result = run_cli("simulate", EXAMPLE / "simulation.toml", "--out", tmp_path, "--seed", "3")
    assert result.code == 0
    # the example's own category map names a label the built-in vocabulary lacks
    (tmp_path / "categories.csv").write_bytes((EXAMPLE / "categories.csv").read_bytes())
    assert run_cli("validate", tmp_path).code == 0


def test_simulate_bad_design_file(tmp_path, run_cli):
    (tmp_path / "d.toml").write_text("seed = 1\n[design]\nn_studies = 0\n")
    result = run_cli("simulate", tmp_path / "d.toml", "--out", tmp_path / "o")
    assert result.code == 2 and "n_studies must be at least 1" in result.err


def test_console_script_runs_without_traceback(tmp_path):
    (tmp_path / "patients.csv").write_bytes(b"\x00\x01\x02" * 100)
    done = subprocess.run(
        [sys.executable, "-m", "ipdmeta.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("ipdmeta: error:") and "Traceback" not in done.stderr


def test_import_is_light():
    code = (
        "import sys, ipdmeta, ipdmeta.data, ipdmeta.simulate;"
        "heavy = [m for m in ('matplotlib', 'jinja2', 'rich', 'ipdmeta.cli') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_vocabulary_none_maps_no_labels(tmp_path, run_cli):
    (tmp_path / "p.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,trigeminal neuralgia,50\nS1,2,TN,35\n"
    )
    result = run_cli("validate", tmp_path / "p.csv", "--vocabulary", "none")
    assert result.code == 0, result.err
    assert "trigeminal neuralgia 1" in result.out  # kept as typed: no built-in map


@pytest.mark.parametrize("environment, threads", [({}, 1), ({"OPENBLAS_NUM_THREADS": "2"}, 2)])
def test_run_starts_blas_with_one_thread_unless_set(tmp_path, environment, threads):
    """ipdmeta run loads OpenBLAS with one thread: its threads spin after starting and
    after each product, taking the cores the worker processes use. A user's own setting
    stands."""
    code = (
        "import sys\n"
        "from ipdmeta.cli import main\n"
        f"main(['run', {str(EXAMPLE)!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
        "from threadpoolctl import threadpool_info\n"
        "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | environment
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"[{threads}]"
