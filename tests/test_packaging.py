"""One version everywhere: the package, its installed metadata, the changelog."""

import re
from importlib.metadata import version
from pathlib import Path

import skfinetune

ROOT = Path(__file__).resolve().parents[1]


def test_one_version():
    changelog = (ROOT / "docs" / "changelog.md").read_text()
    newest = re.search(r"^## (\S+)", changelog, flags=re.M).group(1)
    assert skfinetune.__version__ == newest == version("skfinetune")


def test_the_license_is_the_one_the_metadata_names():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license = "BSD-3-Clause"' in pyproject
