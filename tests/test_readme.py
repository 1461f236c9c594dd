"""README's commands are the ones CI runs."""

from conftest import ROOT


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci[ci.index("# README's test command:") + 1]
    assert f"\n{command}\n" in readme


def test_readme_documents_the_shipped_default_command():
    import json

    meta = json.loads((ROOT / "model_store" / "default" / "meta.json").read_text())
    assert meta["command"] in (ROOT / "README.md").read_text()
