"""The committed openapi.json is the contract clients are generated from; the app must not drift from it."""

from __future__ import annotations

import json
from pathlib import Path

from omicsdm.app import create_app
from omicsdm.settings import Settings

SPEC = Path(__file__).resolve().parent.parent / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    live = create_app(Settings(dev_mode=True)).openapi()
    committed = json.loads(SPEC.read_text())
    assert committed == live, "openapi.json is stale: run `omicsdm openapi` and commit it"


def test_every_operation_is_named_tagged_and_summarised() -> None:
    spec = json.loads(SPEC.read_text())
    seen: set[str] = set()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("operationId"), f"{method} {path} has no operationId"
            assert op["operationId"] not in seen, op["operationId"]
            seen.add(op["operationId"])
            assert op.get("tags"), f"{method} {path} has no tag"
            assert op.get("summary"), f"{method} {path} has no summary"
