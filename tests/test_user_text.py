"""User-facing text (README, documentation, examples, docstrings and messages)
speaks of the package and its users only: no words about how or where the
package is developed, and no path to the repository's own data in the
documentation's snippets."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Phrases that speak of the package's development, not of its use.
FORBIDDEN = [
    r"\bmain job\b",
    r"\bknown here\b",
    r"\bno GPU has run\b",
    r"\b(measured|speed|cost|ran|run) here\b",
    r"\bthis session\b",
    r"\bissue #?\d+\b",
    r"\bthe CEO\b",
]


def _user_files():
    files = [ROOT / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    files += sorted((ROOT / "docs").glob("*.rst"))
    files += sorted((ROOT / "examples").glob("*.py"))
    files += sorted((ROOT / "examples").glob("*.rst"))
    files += sorted((ROOT / "skfinetune").rglob("*.py"))
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", _user_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_user_text_speaks_of_the_package_only(path):
    text = path.read_text()
    found = [
        f"{pattern} (line {text[: m.start()].count(chr(10)) + 1})"
        for pattern in FORBIDDEN
        for m in re.finditer(pattern, text, flags=re.IGNORECASE)
    ]
    assert found == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name
)
def test_documentation_snippets_use_no_path_of_the_repositorys_data(path):
    assert "../shared/data" not in path.read_text()
