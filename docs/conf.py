"""Sphinx configuration of the fastebm documentation.

Build from the repository root (``pip install -e ".[docs]"`` first)::

    python -m sphinx -W -b html docs docs/_build/html

The Markdown pages are read by MyST; the API reference (``api/index.rst``) is generated
from the docstrings by autosummary and numpydoc into ``api/generated/`` at build time;
the gallery (``gallery/*.py``) is executed by sphinx-gallery into ``auto_examples/``.
The generated folders are ignored by git.
"""
import os
import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))      # fastebm from this checkout, installed or not
os.environ.setdefault("MPLBACKEND", "Agg")

import fastebm  # noqa: E402

project = "fastebm"
author = "the fastebm developers"
copyright = "the fastebm developers"
release = version = fastebm.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# not pages: the figure scripts, the table a script writes next to its figures, and the
# gallery's sources (sphinx-gallery writes their pages into auto_examples/)
exclude_patterns = ["_build", "examples", "figures/*.md", "gallery"]
templates_path = ["_templates"]

# MyST: `#section` links between pages need heading anchors
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# API reference: one page per public name, written at build time
autosummary_generate = True
autosummary_imported_members = True
# fastebm.Energy and fastebm.energy: one file each on case-insensitive file systems
autosummary_filename_map = {"fastebm.energy": "fastebm.energy-function"}
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"                 # numpydoc's type fields say it, with shapes
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# the gallery: executed at every build, its figures kept
sphinx_gallery_conf = {
    "examples_dirs": ["gallery"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",         # every plot_*.py is run
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "doc_module": ("fastebm",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"fastebm": None},
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "pydata_sphinx_theme"
html_title = f"fastebm {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
