"""The repository keeps its own copy of the shared conformance cases and reference texts; when the
shared folder is beside the checkout (a developer's machine, CI), the copy must match it."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
COPIES = [
    (SHARED / "examples", ROOT / "tests" / "conformance" / "cases"),
    (SHARED / "reference", ROOT / "docs" / "reference"),
]


def _differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right)
    found = [f"only in {left}: {n}" for n in cmp.left_only]
    found += [f"differs: {n}" for n in cmp.diff_files]
    _, mismatch, errors = filecmp.cmpfiles(left, right, cmp.common_files, shallow=False)
    found += [f"differs: {n}" for n in mismatch + errors if f"differs: {n}" not in found]
    for sub in cmp.common_dirs:
        found += _differences(left / sub, right / sub)
    return found


@pytest.mark.parametrize("shared, copy", COPIES, ids=["examples", "reference"])
def test_copy_matches_shared(shared, copy):
    if not shared.is_dir():
        pytest.skip(f"{shared} is not beside this checkout; the copy in the repository is used as it is")
    assert copy.is_dir(), f"{copy} is missing"
    assert not _differences(shared, copy), (
        f"{copy} is out of date with {shared}: copy it again (cp -r {shared}/. {copy}/)"
    )
