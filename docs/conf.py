"""Sphinx configuration of skfinetune's documentation site.

Build (from the repository root; the README gives the same command)::

    python -m pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

``SKFINETUNE_DOCS_GALLERY=0`` builds without running the examples (their pages
then show the code without output).
"""

import os
import sys
import warnings
from pathlib import Path

import skfinetune

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _gallery_order

# the examples read ../shared/data relative to the repository root; sphinx-gallery
# runs them from examples/
os.environ.setdefault(
    "SKFINETUNE_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")
)

project = "skfinetune"
author = "skfinetune developers"
copyright = "2026, skfinetune developers"
release = skfinetune.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md", "auto_examples/*.ipynb"]
templates_path = ["_templates"]
html_static_path = ["_static"]

autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"skfinetune {release}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_favicon = "_static/favicon.svg"
html_logo = "_static/favicon.svg"
html_context = {"default_mode": "light"}

run_gallery = os.environ.get("SKFINETUNE_DOCS_GALLERY", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",  # run every example, not only plot_*
    "plot_gallery": run_gallery,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "_gallery_order.NewcomerOrder",
    "matplotlib_animations": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

# the examples' own warnings (torchvision, joblib) are not the site's problems
warnings.filterwarnings("ignore", category=UserWarning, message=".*non-interactive.*")


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods document its own
    metadata-routing guide, which is not part of this site."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
