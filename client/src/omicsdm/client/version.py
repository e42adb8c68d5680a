"""The installed version of a distribution (`omicsdm-client` here, `omicsdm` for the service)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def distribution_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = distribution_version("omicsdm-client")
