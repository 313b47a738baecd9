"""The repository stands alone: nothing a user reads or runs (README, docs, Makefile, examples, CI,
tests, sources) points to a path outside it, and the documentation's links lead to files that exist.

Left out: verbatim copies kept in step with their originals by tests/test_cases_in_sync.py
(docs/reference/, docs/design.md, tests/conformance/cases/), that sync test itself, which
looks for the originals on purpose, and this file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["README.md", "Makefile", "pyproject.toml", "docs", "examples", ".ci", "tests", "src/stateway", "bench"]
EXCLUDED = ["docs/reference", "docs/design.md", "tests/conformance/cases", "tests/test_cases_in_sync.py",
            "tests/test_standalone.py"]
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".toml", ".json", ".txt", ".sh", ".cfg", ".ini", ""}

_PARENT_PATH = re.compile(r"(?<![\w.])((?:\.\./)+[\w./-]*)")
_MACHINE_PATH = re.compile(r"(?<![\w.])/work/")
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) \
            if path.is_dir() else []
        for file in candidates:
            rel = file.relative_to(ROOT).as_posix()
            if any(rel == e or rel.startswith(e + "/") for e in EXCLUDED):
                continue
            if "__pycache__" in file.parts or ".egg-info" in rel or file.suffix not in TEXT_SUFFIXES:
                continue
            files.append(file)
    return files


def test_the_scan_covers_what_users_read_and_run():
    rels = {f.relative_to(ROOT).as_posix() for f in scanned_files()}
    for expected in ("README.md", "Makefile", "docs/language.md", "docs/language-v1.md", "docs/architecture.md",
                     "docs/api.md", "tests/conftest.py", ".ci/run"):
        assert expected in rels, f"{expected} is not scanned"
    assert not any(r.startswith("docs/reference/") for r in rels)


def test_nothing_points_outside_the_repository():
    found = []
    for file in scanned_files():
        text = file.read_text(errors="replace")
        rel = file.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            if "../shared" in line:
                found.append(f"{rel}:{number}: {line.strip()}")
                continue
            if _MACHINE_PATH.search(line):
                found.append(f"{rel}:{number}: a path of this machine: {line.strip()}")
                continue
            for match in _PARENT_PATH.finditer(line):
                target = (file.parent / match.group(1)).resolve()
                if not target.is_relative_to(ROOT):
                    found.append(f"{rel}:{number}: {match.group(1)} leaves the repository")
    assert not found, "paths outside the repository:\n" + "\n".join(found)


def test_documentation_links_lead_to_files_in_the_repository():
    broken = []
    for file in scanned_files():
        if file.suffix != ".md":
            continue
        rel = file.relative_to(ROOT).as_posix()
        for number, line in enumerate(file.read_text().splitlines(), 1):
            for match in _MD_LINK.finditer(line):
                link = match.group(1)
                if re.match(r"[a-z]+:", link) or link.startswith("#"):
                    continue
                target = (file.parent / link.split("#", 1)[0]).resolve()
                if not target.is_relative_to(ROOT) or not target.exists():
                    broken.append(f"{rel}:{number}: {link}")
    assert not broken, "links to nothing in the repository:\n" + "\n".join(broken)


def test_guide_anchors_exist():
    """Links between the two language guides name sections that exist (GitHub's anchor rules)."""
    docs = ROOT / "docs"

    def anchors(path: Path) -> set[str]:
        out = set()
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                title = line.lstrip("#").strip().lower()
                out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
        return out

    missing = []
    for page in ("language.md", "language-v1.md"):
        for target, anchor in re.findall(r"\]\(((?:language(?:-v1)?\.md)?)#([\w-]+)\)", (docs / page).read_text()):
            if anchor not in anchors(docs / (target or page)):
                missing.append(f"docs/{page}: {target}#{anchor}")
    assert not missing, "links to missing sections:\n" + "\n".join(missing)
