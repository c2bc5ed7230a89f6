"""The docs' measured tables come from the JSON the project's own commands wrote, and stay in step with it."""

from __future__ import annotations

import json
import shutil

import pytest

from edge_sdk.benchmarks import render
from tests.conftest import ROOT


def test_every_rendered_table_matches_its_data_file():
    found = [(page, src) for page in render.pages(ROOT) for src, _, _ in render.blocks(page)]
    kinds = {render.kind(json.loads((page.parent / src).read_text())) for page, src in found}
    assert {"bench", "zoo", "parity", "memory"} <= kinds, f"the docs render {kinds}: zoo, bench, parity, memory expected"
    stale = render.render(ROOT, check=True)
    assert not stale, f"tables differ from their data (run `make docs`): {stale}"
    for page, src in found:  # each data file says what made it and where
        doc = json.loads((page.parent / src).read_text())
        assert doc.get("command") and doc["machine"]["when"], f"{src} lacks its command or machine"


def test_a_table_edited_by_hand_or_data_remeasured_is_caught_and_rerendered(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "README.md").write_text("# x\n")
    page = next(p for p in render.pages(tmp_path) if render.blocks(p))
    src = render.blocks(page)[0][0]
    text = page.read_text()
    start = text.index(f"<!-- rendered from {src} -->")
    row = text.index("\n|", text.index("|---", start)) + 1  # the first data row of that block
    page.write_text(text[:row] + "| edited | by | hand |\n" + text[row:])
    assert render.main(["--root", str(tmp_path), "--check"]) == 1
    assert render.main(["--root", str(tmp_path)]) == 0  # rendering puts the data back
    assert "edited | by | hand" not in page.read_text() and render.render(tmp_path, check=True) == []
    data = page.parent / src
    doc = json.loads(data.read_text())
    doc["machine"]["when"] = "2099-01-01T00:00:00+00:00"  # a new measurement: the page is stale until rendered
    data.write_text(json.dumps(doc))
    assert render.render(tmp_path, check=True) and "2099-01-01" not in page.read_text()
    render.render(tmp_path)
    assert "2099-01-01" in page.read_text()


def test_a_document_of_unknown_kind_is_named():
    with pytest.raises(ValueError, match="not a bench, zoo or parity document"):
        render.kind({"something": 1})
