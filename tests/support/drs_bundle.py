"""One OpenAPI document from the vendored GA4GH DRS schemas, for generating a client from them.

The official document is split over many files with relative `$ref`s (and Markdown descriptions by
`$ref`), which client generators do not follow. This inlines them: a referenced schema, parameter,
response or request body file becomes a named component (what it is is read from its keys, as the
folders do not always say), Markdown becomes text, and the service-info schemas referenced by URL come
from the vendored service-info document. Nothing is changed but where things are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "drs"
SERVICE_INFO = DATA / "service-info-1.0.0" / "service-info.yaml"
COMPONENT_FOLDERS = ("schemas", "parameters", "responses", "requestBodies")


def bundle(version: str) -> dict[str, Any]:
    root = DATA / version / "openapi" / "data_repository_service.openapi.yaml"
    components: dict[str, dict[str, Any]] = {}

    def kind_of(folder: str, content: Any) -> str:
        if isinstance(content, dict) and {"in", "name"} <= content.keys():
            return "parameters"
        schema_keys = {"type", "properties", "allOf", "oneOf", "anyOf"}
        if (
            isinstance(content, dict)
            and not schema_keys & content.keys()
            and ("content" in content or folder == "responses")
        ):
            return "requestBodies" if folder == "requestBodies" else "responses"
        return "schemas"

    def resolve(node: Any, base: Path) -> Any:
        if isinstance(node, list):
            return [resolve(item, base) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str) or ref.startswith("#"):
            return {key: resolve(value, base) for key, value in node.items()}
        if ref.startswith(("http://", "https://")):
            schemas = yaml.safe_load(SERVICE_INFO.read_text())["components"]["schemas"]
            for name, schema in schemas.items():
                components.setdefault("schemas", {}).setdefault(name, schema)
            return {"$ref": "#/components/schemas/" + ref.rsplit("/", 1)[-1]}
        path, _, fragment = ref.partition("#")
        target = (base / path).resolve()
        if target.suffix == ".md":
            return target.read_text()
        content = yaml.safe_load(target.read_text())
        for part in fragment.strip("/").split("/") if fragment else []:
            content = content[part]
        if target.parent.name in COMPONENT_FOLDERS and not fragment:
            kind = kind_of(target.parent.name, content)
            named = components.setdefault(kind, {})
            if target.stem not in named:
                named[target.stem] = {}  # placeholder first: schemas may refer to themselves
                named[target.stem] = resolve(content, target.parent)
            return {"$ref": f"#/components/{kind}/{target.stem}"}
        return resolve(content, target.parent)

    document: dict[str, Any] = resolve(yaml.safe_load(root.read_text()), root.parent)
    for kind, items in components.items():
        document.setdefault("components", {}).setdefault(kind, {}).update(items)
    return document
