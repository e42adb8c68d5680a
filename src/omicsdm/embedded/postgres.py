"""Embedded PostgreSQL 16 from the `pgserver` wheel, listening only on a unix socket.

pg_ctl starts the postmaster as a daemon, not as our child, so nothing the kernel offers stops it when
we die. A watchdog process does: it waits on a pipe only we hold; EOF without a word from us means we
died (even by SIGKILL), and it shuts the postmaster down as pg_ctl -m fast would.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import warnings
from urllib.parse import quote

DATABASE = "omicsdm"
SUPERUSER = "postgres"
# pgserver refuses to run postgres as root and runs it as this system user instead (creating it with useradd).
_ROOT_SYSTEM_USER = "pgserver"


class EmbeddedPostgres:
    """A PostgreSQL cluster kept in `data_dir`, started and stopped by this object.

    pgserver shares one server between every process that opens the same directory and only stops
    it when the last of them exits; `stop()` here stops it regardless, so tests leave nothing behind.
    """

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._pgdata: pathlib.Path | None = None
        self._pid: int | None = None
        self._url: str | None = None
        self._owner = os.getpid()
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._pgdata is not None and _postmaster_pid(self._pgdata, self._pid) is not None

    def start(self) -> str:
        """Start (or reuse) the cluster and return the SQLAlchemy URL of database `omicsdm`."""
        with self._lock:
            if self._url is not None and self.running:
                return self._url
            # Importing pgserver warns when XDG_RUNTIME_DIR is unset (it picks a lock directory at import).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pgserver.postgres_server import PostgresServer, get_server

            pgdata = self.data_dir.expanduser().resolve()
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            # pgserver caches one handle per directory and would reuse it even if its server is gone.
            if _postmaster_pid(pgdata) is None:
                PostgresServer._instances.pop(pgdata, None)
            # cleanup_mode=None: stopping is ours (see stop()), not pgserver's reference-counted atexit hook.
            server = get_server(pgdata, cleanup_mode=None)
            atexit.unregister(server._cleanup)
            info = server.get_postmaster_info()
            if info.socket_dir is None:
                raise RuntimeError(f"embedded PostgreSQL in {pgdata} has no unix socket")
            self._pgdata, self._pid, self._owner = pgdata, info.pid, os.getpid()
            self._disarm_watchdog()
            self._watchdog = _start_watchdog(pgdata, info.pid)
            try:
                _ensure_database(info.socket_dir, info.port)
            except BaseException:
                self._stop_locked()
                raise
            url = f"postgresql+asyncpg://{SUPERUSER}@/{DATABASE}?host={quote(str(info.socket_dir), safe='/')}"
            if info.port not in (None, 5432):
                url += f"&port={info.port}"
            self._url = url
            atexit.register(self.stop)
            return url

    def stop(self) -> None:
        """Stop the server (even if another process also uses it); calling it again does nothing."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        atexit.unregister(self.stop)
        pgdata, pid = self._pgdata, self._pid
        self._pgdata, self._pid, self._url = None, None, None
        if pgdata is None or self._owner != os.getpid():  # a forked child must not stop its parent's server
            return
        self._disarm_watchdog()
        from pgserver.postgres_server import PostgresServer

        with PostgresServer._lock:  # pgserver's inter-process lock around start/stop of a directory
            server = PostgresServer._instances.pop(pgdata, None)
            if server is not None:
                server.global_process_id_list.get_and_remove(os.getpid())
            if _postmaster_pid(pgdata, pid) is None:
                return
            # pg_ctl fails if the data directory was deleted under the running server: then signal it.
            with contextlib.suppress(RuntimeError, OSError):
                _pg_command("pg_ctl", ["-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop"], cwd=pgdata)
            _kill_postmaster(pgdata, pid)

    def _disarm_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None or watchdog.stdin is None:
            return
        with contextlib.suppress(OSError):  # BrokenPipeError if it is gone already
            watchdog.stdin.write(_DISARM)
            watchdog.stdin.flush()
        with contextlib.suppress(OSError):
            watchdog.stdin.close()
        try:
            watchdog.wait(5)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()


_DISARM = b"stopped by the owner\n"


def _start_watchdog(pgdata: pathlib.Path, pid: int) -> subprocess.Popen[bytes]:
    """A process that stops the postmaster `pid` as soon as this process dies without stopping it.

    Its stdin is a pipe whose write end only this process holds (not inherited across exec), so it
    reads EOF the moment we are gone, however we went. Its own session keeps Ctrl-C in a terminal away.
    """
    code = "import sys; from omicsdm.embedded.postgres import watch; watch(sys.argv[1], int(sys.argv[2]))"
    return subprocess.Popen(  # noqa: S603 - this interpreter, arguments built here
        [sys.executable, "-c", code, str(pgdata), str(pid)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def watch(pgdata: str, pid: int) -> None:
    """The watchdog's body: wait for the owner to disarm us or die; in the second case stop the postmaster."""
    if sys.stdin.buffer.read():  # anything before EOF: the owner stops (or has stopped) the server itself
        return
    path = pathlib.Path(pgdata)
    # Only the postmaster we were started for: the directory may have a new server by now.
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if not _is_postmaster(pid, path):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)  # SIGINT: fast shutdown, what `pg_ctl stop -m fast` sends
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _is_postmaster(pid, path):
            time.sleep(0.05)


def _kill_postmaster(pgdata: pathlib.Path, remembered: int | None) -> None:
    """Last resort when pg_ctl could not stop the server: immediate shutdown, then SIGKILL."""
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        pid = _postmaster_pid(pgdata, remembered)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _postmaster_pid(pgdata, remembered) is not None:
            time.sleep(0.05)


def _postmaster_pid(pgdata: pathlib.Path, remembered: int | None = None) -> int | None:
    """The pid of the running postmaster of `pgdata` (from postmaster.pid, else the one we started)."""
    candidates = [remembered]
    with contextlib.suppress(OSError, ValueError):
        candidates.insert(0, int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]))
    for pid in candidates:
        if pid is not None and _is_postmaster(pid, pgdata):
            return pid
    return None


def _is_postmaster(pid: int, pgdata: pathlib.Path) -> bool:
    """Whether `pid` is a live postgres serving `pgdata` (a zombie counts as gone)."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = pathlib.Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return cmdline[0].endswith(b"postgres") and str(pgdata).encode() in cmdline and state != b"Z"


def _ensure_database(socket_dir: pathlib.Path, port: int | None) -> None:
    exists_sql = "SELECT 1 FROM pg_database WHERE datname = 'omicsdm'"
    args = ["-h", str(socket_dir), "-p", str(port or 5432), "-U", SUPERUSER, "-d", "postgres"]
    args += ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c"]
    if _pg_command("psql", [*args, exists_sql], as_client=True).strip() == "1":
        return
    try:
        _pg_command("psql", [*args, f'CREATE DATABASE "{DATABASE}"'], as_client=True)
    except RuntimeError:
        # Another process may have created it in the meantime.
        if _pg_command("psql", [*args, exists_sql], as_client=True).strip() != "1":
            raise


def _pg_command(name: str, args: list[str], *, cwd: pathlib.Path | None = None, as_client: bool = False) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    # Server-side tools must run as the cluster's owner, which is not root when we are root.
    user = _ROOT_SYSTEM_USER if os.geteuid() == 0 and not as_client else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        result = subprocess.run(  # noqa: S603 - a binary of the pgserver wheel, arguments built here
            [str(POSTGRES_BIN_PATH / name), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=env,
            cwd=cwd,
            user=user,
        )
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{name} failed ({err.returncode}): {err.stderr.strip()}") from err
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"{name} timed out") from err
    return result.stdout
