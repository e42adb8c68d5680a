"""Wheels of both distributions built from this checkout, and a fresh venv holding only `omicsdm-client`.

Built once per test process (the package test and the end-to-end CLI test share it). The sources are
copied first so the builds write nothing into the work tree; the client's dependencies come from the
machine's pip configuration (an index or --find-links), as they would for a user.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "*.pyc")


@dataclass(frozen=True)
class ClientVenv:
    root: Path
    python: Path
    omicsdm: Path  # the console script
    client_wheel: Path
    server_wheel: Path


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheels(work: Path) -> tuple[Path, Path]:
    """(omicsdm-client wheel, omicsdm wheel), built from copies of client/ and of the service's sources."""
    client_src, server_src, wheels = work / "client-src", work / "server-src", work / "wheels"
    shutil.copytree(ROOT / "client", client_src, ignore=_IGNORE)
    server_src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, server_src / name)
    shutil.copytree(ROOT / "src", server_src / "src", ignore=_IGNORE)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, client_src, server_src)
    (client_wheel,) = wheels.glob("omicsdm_client-*.whl")
    (server_wheel,) = wheels.glob("omicsdm-*.whl")
    return client_wheel, server_wheel


@functools.cache
def client_venv() -> ClientVenv:
    work = Path(tempfile.mkdtemp(prefix="omicsdm-client-venv-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the test process's venv, gone with it
    client_wheel, server_wheel = build_wheels(work)
    root = work / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    python = root / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--find-links", client_wheel.parent, client_wheel)
    return ClientVenv(root, python, root / "bin" / "omicsdm", client_wheel, server_wheel)
