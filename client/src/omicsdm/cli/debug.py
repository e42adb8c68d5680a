"""`omicsdm --debug`: whether a failing command prints its traceback too (client and server commands)."""

from __future__ import annotations


class _Options:
    debug = False  # set by the `omicsdm` callback from --debug / OMICSDM_DEBUG


def set_debug(debug: bool) -> None:
    _Options.debug = debug


def debug_requested() -> bool:
    return _Options.debug
