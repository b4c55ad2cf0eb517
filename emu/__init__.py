"""The emulated system: the machine (Unicorn), the loader and the command line.

The only package that touches Unicorn, keystone, capstone or the host kernel.
"""

from __future__ import annotations

__all__ = ["__version__"]

#: the package version (pyproject.toml reads it from here)
__version__ = "0.1.0"
