"""One version everywhere: the package, its installed metadata, the changelog."""

import re
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

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


def test_the_oldest_versions_ci_installs_are_the_floors_pyproject_allows():
    """``.ci/run`` runs the unit tests with ``.ci/minimum-versions.txt``: its
    pins must be the lower bounds of the dependencies, or the floors go untested."""
    pins = {}
    for line in (ROOT / ".ci" / "minimum-versions.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, flags=re.M | re.S)
    text = re.search(r"^text = \[(.*?)\]", pyproject, flags=re.M)
    floors = {
        name.lower(): low
        for name, low in re.findall(
            r'"([A-Za-z0-9_.-]+)>=([^",;]+)"', block.group(1) + text.group(1)
        )
    }
    floors.pop("numpy")  # pinned below 2 there: the oldest torch needs numpy 1.x
    assert {k: Version(v) for k, v in pins.items()} == {
        k: Version(v) for k, v in floors.items()
    }
