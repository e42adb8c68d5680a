"""Where the client keeps its server URL and API token, and its resume state.

Config: $OMICSDM_CONFIG, else $XDG_CONFIG_HOME/omicsdm/config.toml, else ~/.config/omicsdm/config.toml
(written with mode 0600 because it holds a secret). OMICSDM_SERVER and OMICSDM_TOKEN override it, so
batch jobs can run without a file. Resume state: $OMICSDM_STATE_DIR, else $XDG_CACHE_HOME/omicsdm,
else ~/.cache/omicsdm.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from omicsdm.client.errors import ClientError, ExitCode


@dataclass(frozen=True, slots=True)
class ClientConfig:
    server: str
    token: str | None
    token_id: str | None = None  # set by `omicsdm login`'s device flow, so `logout` can revoke the token


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("OMICSDM_CONFIG"):
        return Path(env["OMICSDM_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "omicsdm" / "config.toml"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("OMICSDM_STATE_DIR"):
        return Path(env["OMICSDM_STATE_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "omicsdm"


def normalise_server(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(
            f"server must be an http(s) URL, e.g. https://omicsdm.example.org (got {url!r})", ExitCode.USAGE
        )
    return url


def read_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ClientError(f"cannot read the config file {path}: {exc}", ExitCode.USAGE) from exc
    return {k: v for k, v in data.items() if isinstance(v, str)}


def load_config(env: Mapping[str, str] | None = None, *, require_login: bool = True) -> ClientConfig:
    """The effective configuration: the file, overridden by OMICSDM_SERVER / OMICSDM_TOKEN."""
    env = os.environ if env is None else env
    stored = read_file(config_path(env))
    server = env.get("OMICSDM_SERVER") or stored.get("server")
    token = env.get("OMICSDM_TOKEN") or stored.get("token")
    if not server:
        raise ClientError("no server configured: run `omicsdm login --server URL` or set OMICSDM_SERVER", ExitCode.AUTH)
    if require_login and not token:
        raise ClientError("not logged in: run `omicsdm login` or set OMICSDM_TOKEN", ExitCode.AUTH)
    token_id = stored.get("token_id") if token == stored.get("token") else None
    return ClientConfig(server=normalise_server(server), token=token or None, token_id=token_id)


def save_config(config: ClientConfig, env: Mapping[str, str] | None = None) -> Path:
    """Write the file atomically with mode 0600 (the directory 0700); it never exists readable by others."""
    path = config_path(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = ["# omicsdm command-line client (written by `omicsdm login`)", f"server = {_toml_string(config.server)}"]
    if config.token:
        lines.append(f"token = {_toml_string(config.token)}")
        if config.token_id:
            lines.append(f"token_id = {_toml_string(config.token_id)}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _toml_string(value: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)
