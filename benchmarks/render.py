"""The measured tables of the docs, rendered from the JSON that the project's own commands wrote.

A page keeps each measured table between two comments that name its data file (relative to the page)::

    <!-- rendered from data/bench.json -->
    ...the table, its command and machine...
    <!-- end rendered -->

``python -m edge_sdk.benchmarks.render`` (``make docs``) rewrites every block of ``README.md`` and ``docs/*.md``
from its file; ``--check`` changes nothing and exits 1 naming each block that no longer matches its data (the
test suite runs that). The data files are the commands' own outputs, copied as they are: ``edge-sdk zoo``'s
``zoo.json``, ``edge-sdk bench``'s ``bench.json`` (the per-target table, the per-model summary, end-to-end), and
``parity_report``'s ``parity.json`` and ``benchmarks.memory``'s ``memory.json``. Like Qualcomm AI Hub's ``perf.yaml`` beside each model, the figures and the
command and machine that made them travel together.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

BLOCK = re.compile(r"(<!-- rendered from (?P<src>[^ ]+?) -->\n)(?P<body>.*?)(<!-- end rendered -->)", re.S)


def _zoo(doc: dict) -> str:
    from .zoo import ZooEntry, to_markdown

    m = doc["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    return (f"`{doc.get('command') or 'edge-sdk zoo'}`; {m['cpu']}, {m['cores']} cores; {versions}; {m['when']}.\n\n"
            + to_markdown([ZooEntry(**e) for e in doc["models"]]) + f"\n\n{doc.get('note', '')}".rstrip())


def _bench(doc: dict) -> str:
    from .bench import to_markdown

    return to_markdown(doc)


def _parity(doc: dict) -> str:
    from .parity_report import to_markdown

    return to_markdown(doc)


def _memory(doc: dict) -> str:
    m = doc["machine"]
    lines = [f"`{doc['command']}`; {m['cpu']}, {m['cores']} cores; {m['when']}.", "",
             "| image | file (KB) | result | peak RSS (MB) | RSS before the image (MB) |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        result = (r.get("verdict") or "scored") if r.get("ok") else f"refused: {(r.get('error') or '')[:120]}"
        if r.get("note"):
            result += f" ({r['note'][:120]})"
        peak, before = r.get("peak_rss_mb"), r.get("rss_before_mb")
        lines.append(f"| {r['image']} | {r['file_kb']} | {result.replace('|', '/')} | "
                     f"{'-' if peak is None else f'{peak:.0f}'} | {'-' if before is None else f'{before:.0f}'} |")
    return "\n".join(lines)


def _fusion(doc: dict) -> str:
    from .m2tr_fusion import to_markdown

    return to_markdown(doc)


def kind(doc: dict) -> str:
    """Which command wrote ``doc``: bench (``results``), zoo (``models``), parity_report, memory or m2tr_fusion
    (``rows``)."""
    if doc.get("rows") and "image" in doc["rows"][0]:
        return "memory"
    if doc.get("rows") and "kv_pool" in doc["rows"][0]:
        return "fusion"
    for key, name in (("results", "bench"), ("models", "zoo"), ("rows", "parity")):
        if key in doc:
            return name
    raise ValueError(f"not a bench, zoo or parity document (keys: {sorted(doc)})")


RENDERERS = {"bench": _bench, "zoo": _zoo, "parity": _parity, "memory": _memory, "fusion": _fusion}


def render_file(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the data file a docs table is rendered from does not exist")
    doc = json.loads(path.read_text())
    return RENDERERS[kind(doc)](doc).rstrip() + "\n"


def blocks(page: Path) -> list[tuple[str, str, str]]:
    """``(source, what the page holds, what the source renders to)`` for each block of ``page``."""
    text = page.read_text()
    return [(m["src"], m["body"], render_file(page.parent / m["src"])) for m in BLOCK.finditer(text)]


def pages(root: Path) -> list[Path]:
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def render(root: Path, check: bool = False) -> list[str]:
    """Rewrite (or, with ``check``, compare) every block under ``root``; returns the stale ones."""
    from edge_sdk.fileio import write_atomic

    stale = []
    for page in pages(root):
        text = page.read_text()

        def fill(m, page=page):
            body = render_file(page.parent / m["src"])
            if body != m["body"]:
                stale.append(f"{page.relative_to(root)}: the table from {m['src']}")
            return m.group(1) + body + m.group(4)

        new = BLOCK.sub(fill, text)
        if new != text and not check:
            write_atomic(page, new)
    return stale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=".", help="the project folder (README.md and docs/)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from its data")
    args = p.parse_args(argv)
    stale = render(Path(args.root), check=args.check)
    for s in stale:
        print(("stale: " if args.check else "rendered: ") + s)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
