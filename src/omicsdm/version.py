"""The service's version, from the installed `omicsdm` distribution's metadata (pyproject.toml)."""

from __future__ import annotations

from omicsdm.client.version import distribution_version

__version__ = distribution_version("omicsdm")
