"""Sphinx configuration of execo's documentation (``make doc``)."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # document the source tree, not an installed copy

with open(os.path.join(ROOT, "execo", "__init__.py")) as init_file:
    release = re.search(r'^__version__ = "([^"]+)"', init_file.read(), re.M).group(1)
version = release

project = "execo"
author = "the execo authors"
copyright = "the execo authors, GPL-3.0-or-later"

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True,
                           # document each object once, where it is defined
                           "ignore-module-all": True}
# the signatures carry the hints; repeating them in the text adds noise
autodoc_typehints = "signature"
# requests and keyring are optional: the reference builds without them
autodoc_mock_imports = ["requests", "keyring"]
# `name` in docstrings is a reference to a python object when one exists
default_role = "py:obj"
nitpicky = False

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
