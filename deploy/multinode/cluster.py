"""omicsdm's multi-node topology on one machine, every part a real process.

    PostgreSQL (given URL; its own database)
    SeaweedFS: weed master (defaultReplication 001), 3 x weed volume, weed filer, weed s3
    test OIDC identity provider (deploy/multinode/idp.py)
    3 x `omicsdm serve` (production mode: OIDC, a shared secret key, access log on)
    HAProxy (Debian) in front of the replicas: round robin, health checks on /healthz

Run it with deploy/multinode/run.sh (docs/operations.md, "Several machines"); the test suite drives the
same class (tests/multinode/test_cluster.py) and kills replicas and volume servers on the way.
Every process logs to <workdir>/logs/<name>.log and dies with the process that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import make_url

from omicsdm.embedded.seaweedfs import die_with_parent, remove_grpc_sockets, spawn_tied_to_process, weed_binary

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
REGION = "us-east-1"
REPLICATION = "001"  # one more copy on another volume server of the same rack
READINESS_BUCKET = "omicsdm-readiness"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/omicsdm_multinode"
# weed reads AWS_* as credentials and S3_* / WEED_* as settings: only our flags must count.
_SCRUBBED_ENV_PREFIXES = ("AWS_", "WEED_", "S3_", "OMICSDM_")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """(status, body); (0, b"") when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs built here
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def omicsdm_binary() -> str:
    candidate = Path(sys.executable).parent / "omicsdm"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("omicsdm")
    if found is None:
        raise FileNotFoundError("the `omicsdm` command is not installed (pip install -e client -e .)")
    return found


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found is None:
        raise FileNotFoundError("HAProxy is not installed: apt-get install -y haproxy")
    return found


@dataclass
class Process:
    """One child process: started tied to us (it dies with us), logged to a file, signalled by pid."""

    name: str
    args: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    grace: float = 10.0  # seconds from SIGTERM to SIGKILL
    popen: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        assert not self.alive, f"{self.name} already runs"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log_file:
            log_file.write(f"\n===== {time.strftime('%H:%M:%S')} start {' '.join(self.args)}\n".encode())
            log_file.flush()
            self.popen = spawn_tied_to_process(
                lambda: subprocess.Popen(  # noqa: S603 - binaries and arguments built here
                    self.args,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self.cwd,
                    env=self.env,
                    start_new_session=True,
                    preexec_fn=die_with_parent(os.getpid()),
                )
            )

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: no graceful shutdown, open connections reset."""
        if self.popen is not None and self.alive:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait()

    def terminate(self) -> None:
        """SIGTERM (after SIGCONT: a frozen process cannot handle it); wait() reaps it."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        """Wait for the process to end; SIGKILL it after `timeout` seconds."""
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Replica:
    index: int
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def name(self) -> str:
        return f"omicsdm-{self.index + 1}"


@dataclass
class VolumeServer:
    index: int
    port: int
    grpc_port: int
    process: Process


@dataclass
class Cluster:
    workdir: Path
    database_url: str = DEFAULT_DATABASE_URL
    replicas_count: int = 3
    volume_servers_count: int = 3
    proxy_port: int = 0  # 0: any free port
    s3_port: int = 0
    bucket: str = "omicsdm"
    migrate: bool = True
    processes: list[Process] = field(default_factory=list)
    replicas: list[Replica] = field(default_factory=list)
    volume_servers: list[VolumeServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = self.workdir.expanduser().resolve()
        self.logs = self.workdir / "logs"
        self.state = self._load_or_create_state()
        self.proxy_port = self.proxy_port or free_port()
        self.s3_port = self.s3_port or free_port()
        self.master_port, self.master_grpc = free_port(), free_port()
        self.filer_port, self.filer_grpc = free_port(), free_port()
        self.s3_grpc, self.idp_port = free_port(), free_port()
        self.url = f"http://{HOST}:{self.proxy_port}"
        self.s3_url = f"http://{HOST}:{self.s3_port}"
        self.issuer = f"http://{HOST}:{self.idp_port}/realms/test"
        self.haproxy_socket = self.workdir / "haproxy.sock"

    # --- the whole topology ---------------------------------------------------------------------------

    def start(self) -> Cluster:
        try:
            # The identity provider and the migration start first: they run while SeaweedFS comes up.
            idp = self.spawn_idp()
            migration = self.spawn_migration()
            self.start_seaweedfs()
            self._wait(lambda: port_open(self.idp_port), time.monotonic() + 30, "identity provider", idp)
            if migration is not None and migration.wait(120) != 0:
                raise RuntimeError(f"omicsdm db upgrade failed:\n{(self.logs / 'migrate.log').read_text()}")
            self.start_replicas()
            self.start_proxy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM to every process at once, SIGKILL to those still running after their grace period."""
        for process in reversed(self.processes):
            process.terminate()
        started = time.monotonic()
        for process in reversed(self.processes):
            process.wait(max(0.0, started + process.grace - time.monotonic()))
        with contextlib.suppress(OSError):
            self.haproxy_socket.unlink()
        # weed leaves unix sockets named after its gRPC ports in /tmp, even on a clean stop.
        grpc = [self.master_grpc, self.filer_grpc, self.s3_grpc, *(v.grpc_port for v in self.volume_servers)]
        remove_grpc_sockets(grpc)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _process(
        self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Process:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
        base["HOME"] = str(self.workdir)  # keeps ~/.seaweedfs/*.toml of the developer out
        process = Process(name, args, {**base, **(env or {})}, cwd or self.workdir / name, self.logs / f"{name}.log")
        self.processes.append(process)
        return process

    def _load_or_create_state(self) -> dict[str, str]:
        """The secret key shared by every replica and the S3 keys, kept across runs (0600)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "state.json"
        if path.exists():
            state: dict[str, str] = json.loads(path.read_text())
            return state
        upper, mixed = string.ascii_uppercase + string.digits, string.ascii_letters + string.digits
        state = {
            "secret_key": secrets.token_urlsafe(48),
            "s3_access_key": "OMICSDM" + "".join(secrets.choice(upper) for _ in range(13)),
            "s3_secret_key": "".join(secrets.choice(mixed) for _ in range(40)),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=2)
        return state

    # --- SeaweedFS ------------------------------------------------------------------------------------

    def _weed(self, name: str, *args: str) -> Process:
        return self._process(name, [weed_binary(), "-logtostderr=true", *args], {"GOMEMLIMIT": "384MiB"})

    @property
    def master_address(self) -> str:
        return f"{HOST}:{self.master_port}.{self.master_grpc}"  # host:port.grpcPort, SeaweedFS's notation

    def start_seaweedfs(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        master = self._weed(
            "weed-master",
            "master",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-port={self.master_port}",
            f"-port.grpc={self.master_grpc}",
            f"-mdir={self.workdir / 'weed-master'}",
            f"-defaultReplication={REPLICATION}",
            "-volumeSizeLimitMB=64",  # small volumes: many buckets and a quick start on small disks
            "-telemetry=false",
            "-peers=none",
        )
        master.start()
        self._wait(lambda: port_open(self.master_port), deadline, "weed master", master)
        for index in range(self.volume_servers_count):
            server = VolumeServer(index, free_port(), free_port(), None)  # type: ignore[arg-type]
            server.process = self._weed(
                f"weed-volume-{index + 1}",
                "volume",
                f"-ip={HOST}",
                f"-ip.bind={HOST}",
                f"-port={server.port}",
                f"-port.grpc={server.grpc_port}",
                f"-dir={self.workdir / f'weed-volume-{index + 1}'}",
                "-max=100",
                f"-master={self.master_address}",
                "-preStopSeconds=0",
            )
            server.process.cwd.mkdir(parents=True, exist_ok=True)
            server.process.start()
            self.volume_servers.append(server)
        self._wait(
            lambda: self.volume_nodes() >= self.volume_servers_count, deadline, "volume servers registered", master
        )
        filer = self._weed(
            "weed-filer",
            "filer",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-port={self.filer_port}",
            f"-port.grpc={self.filer_grpc}",
            f"-master={self.master_address}",
            f"-defaultReplicaPlacement={REPLICATION}",
            f"-defaultStoreDir={self.workdir / 'weed-filer'}",
            *self._local_socket("filer"),
        )
        filer.grace = 2.0  # weed filer 4.48 hangs on SIGTERM (seen here); its store is consistent anyway
        filer.cwd.mkdir(parents=True, exist_ok=True)
        filer.start()
        self._wait(lambda: port_open(self.filer_port), deadline, "weed filer", filer)
        identities = self.workdir / "s3-identities.json"
        credentials = [{"accessKey": self.state["s3_access_key"], "secretKey": self.state["s3_secret_key"]}]
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        identities.write_text(
            json.dumps({"identities": [{"name": "omicsdm", "credentials": credentials, "actions": actions}]})
        )
        identities.chmod(0o600)
        gateway = self._weed(
            "weed-s3",
            "s3",
            f"-ip.bind={HOST}",
            f"-port={self.s3_port}",
            f"-port.grpc={self.s3_grpc}",
            f"-filer={HOST}:{self.filer_port}.{self.filer_grpc}",
            f"-config={identities}",
            "-allowDeleteBucketNotEmpty=false",
            "-autoCreateBucket=false",
            "-port.iceberg=0",
            "-port.lance=0",
            *self._local_socket("s3"),
        )
        gateway.start()
        self._wait(lambda: port_open(self.s3_port), deadline, "weed s3", gateway)
        self._wait(self._s3_serves, deadline, "S3 reads and writes", gateway)

    def _local_socket(self, role: str) -> list[str]:
        """weed's unix socket in our directory rather than /tmp, where weed leaves it behind."""
        path = self.workdir / f"weed-{role}.sock"
        if len(str(path)) >= 100:  # the limit of a unix socket's path is 108 bytes
            return []
        path.unlink(missing_ok=True)
        return [f"-localSocket={path}"]

    def volume_nodes(self) -> int:
        """Volume servers the master counts as alive."""
        status, body = http_get(f"http://{HOST}:{self.master_port}/dir/status")
        if status != 200:
            return 0
        topology = json.loads(body).get("Topology", {})
        return sum(
            len(rack.get("DataNodes") or [])
            for dc in topology.get("DataCenters") or []
            for rack in dc.get("Racks") or []
        )

    def s3_client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.s3_url,
            region_name=REGION,
            aws_access_key_id=self.state["s3_access_key"],
            aws_secret_access_key=self.state["s3_secret_key"],
            config=Config(
                connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}, s3={"addressing_style": "path"}
            ),
        )

    def _s3_serves(self) -> bool:
        client = self.s3_client()
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=READINESS_BUCKET)
            body = secrets.token_bytes(16)
            client.put_object(Bucket=READINESS_BUCKET, Key="sentinel", Body=body)
            return bool(client.get_object(Bucket=READINESS_BUCKET, Key="sentinel")["Body"].read() == body)
        except (BotoCoreError, ClientError):
            return False

    def kill_volume_server(self, index: int) -> None:
        self.volume_servers[index].process.kill()

    def start_volume_server(self, index: int, timeout: float = 30.0) -> None:
        server = self.volume_servers[index]
        server.process.start()
        deadline = time.monotonic() + timeout
        self._wait(
            lambda: self.volume_nodes() >= self.volume_servers_count, deadline, "volume server back", server.process
        )

    # --- identity provider, database ------------------------------------------------------------------

    def spawn_idp(self) -> Process:
        idp = self._process("idp", [sys.executable, str(HERE / "idp.py"), "--port", str(self.idp_port)])
        idp.start()
        return idp

    def idp_call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the loopback IdP started here
            self.issuer + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
            return result

    def token(self, sub: str, groups: list[str], lifetime: int = 3600) -> str:
        """An access token for `sub` in `groups`, signed with the IdP's newest key."""
        return str(self.idp_call("/token", {"sub": sub, "groups": groups, "lifetime": lifetime})["access_token"])

    def spawn_migration(self) -> subprocess.Popen[bytes] | None:
        """Create the database if it is missing, then start `omicsdm db upgrade` (None: not asked to)."""
        asyncio.run(_create_database(self.database_url))
        if not self.migrate:
            return None
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "migrate.log").open("wb") as log:
            return subprocess.Popen(  # noqa: S603
                [omicsdm_binary(), "db", "upgrade"], env=self.replica_env(), stdout=log, stderr=subprocess.STDOUT
            )

    # --- omicsdm replicas -----------------------------------------------------------------------------

    def replica_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
        return {
            **base,
            "OMICSDM_DEV_MODE": "false",
            "OMICSDM_SECRET_KEY": self.state["secret_key"],  # the same on every replica: upload tokens
            "OMICSDM_PUBLIC_URL": self.url,
            "OMICSDM_DATABASE__URL": self.database_url,
            "OMICSDM_DATABASE__POOL_SIZE": "5",
            "OMICSDM_S3__ENDPOINT_URL": self.s3_url,
            "OMICSDM_S3__REGION": REGION,
            "OMICSDM_S3__BUCKET": self.bucket,
            "OMICSDM_S3__ACCESS_KEY_ID": self.state["s3_access_key"],
            "OMICSDM_S3__SECRET_ACCESS_KEY": self.state["s3_secret_key"],
            "OMICSDM_AUTH__OIDC_ISSUER": self.issuer,
            "OMICSDM_AUTH__OIDC_AUDIENCE": "omicsdm",
            "OMICSDM_AUTH__ADMIN_GROUP": "admin",
            "OMICSDM_LOG_FORMAT": "json",
        }

    def start_replicas(self, timeout: float = 90.0) -> None:
        for index in range(self.replicas_count):
            port = free_port()
            args = [
                omicsdm_binary(),
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--timeout-graceful-shutdown",
                "5",
            ]
            process = self._process(f"omicsdm-{index + 1}", args, self.replica_env(), self.workdir)
            self.replicas.append(Replica(index, port, process))
        # All at once: each provisions the bucket (versioning, CORS, no-delete policy), which is idempotent.
        for replica in self.replicas:
            replica.process.start()
        for replica in self.replicas:
            self.wait_replica(replica.index, timeout)
        self.wait_replica(0, timeout, ready=True)

    def wait_replica(self, index: int, timeout: float = 90.0, *, ready: bool = False) -> None:
        replica = self.replicas[index]
        path = "/readyz" if ready else "/healthz"
        self._wait(
            lambda: http_get(replica.url + path)[0] == 200, time.monotonic() + timeout, replica.name, replica.process
        )

    def kill_replica(self, index: int) -> None:
        self.replicas[index].process.kill()

    def freeze_replica(self, index: int) -> None:
        """SIGSTOP: the replica accepts connections (the kernel does) but answers nothing."""
        self.replicas[index].process.signal(signal.SIGSTOP)

    def start_replica(self, index: int, timeout: float = 90.0) -> None:
        self.replicas[index].process.start()
        self.wait_replica(index, timeout)

    # --- HAProxy --------------------------------------------------------------------------------------

    def haproxy_config(self) -> str:
        return local_haproxy_config(
            (HERE / "haproxy.cfg").read_text(),
            f"{HOST}:{self.proxy_port}",
            [(r.name, r.port) for r in self.replicas],
            self.haproxy_socket,
        )

    def start_proxy(self, timeout: float = 30.0) -> None:
        config = self.workdir / "haproxy.cfg"
        config.write_text(self.haproxy_config())
        haproxy = self._process("haproxy", [haproxy_binary(), "-db", "-f", str(config)], cwd=self.workdir)
        haproxy.start()
        deadline = time.monotonic() + timeout
        self._wait(lambda: port_open(self.proxy_port), deadline, "haproxy", haproxy)
        self.wait_proxy_sees(up=[r.name for r in self.replicas], timeout=timeout)

    def proxy_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's `show stat` for the replicas' backend, by server name (and BACKEND for the sums):
        status (UP, DOWN, ...), wretr (requests retried), wredis (redispatched), hrsp_5xx, ..."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(self.haproxy_socket))
                sock.sendall(b"show stat\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(b"".join(chunks).decode().lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "replicas"}

    def proxy_servers(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it: UP, DOWN, 'UP 1/2' while changing..."""
        return {name: row["status"] for name, row in self.proxy_stats().items() if name != "BACKEND"}

    def wait_proxy_sees(self, *, up: list[str] = (), down: list[str] = (), timeout: float = 30.0) -> None:  # type: ignore[assignment]
        def seen() -> bool:
            states = self.proxy_servers()
            return all(states.get(n) == "UP" for n in up) and all(
                str(states.get(n, "")).startswith("DOWN") for n in down
            )

        self._wait(seen, time.monotonic() + timeout, f"HAProxy to see up={up} down={down}", None)

    # --- helpers ----------------------------------------------------------------------------------------

    def _wait(self, check: Any, deadline: float, what: str, process: Process | None) -> None:
        while time.monotonic() < deadline:
            if process is not None and not process.alive:
                raise RuntimeError(f"{process.name} exited while waiting for {what}:\n{process.tail()}")
            if check():
                return
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}" + (f":\n{process.tail()}" if process else ""))

    def describe(self) -> str:
        lines = [
            f"omicsdm (HAProxy)   {self.url}",
            *(f"  {r.name:<17} {r.url}  pid {r.process.pid}" for r in self.replicas),
            f"S3 (weed s3)        {self.s3_url}   bucket {self.bucket}",
            f"  weed master       http://{HOST}:{self.master_port}  (replication {REPLICATION})",
            *(f"  weed volume {v.index + 1}     http://{HOST}:{v.port}" for v in self.volume_servers),
            f"  weed filer        http://{HOST}:{self.filer_port}",
            f"OIDC issuer (test)  {self.issuer}",
            f"PostgreSQL          {make_url(self.database_url).render_as_string(hide_password=True)}",
            f"logs                {self.logs}",
            "",
            "A token (test identity provider: any user, any groups):",
            f'  curl -s -X POST {self.issuer}/token -d \'{{"sub": "alice", "groups": ["lab-a"]}}\'',
        ]
        return "\n".join(lines)


def local_haproxy_config(compose_config: str, bind: str, servers: list[tuple[str, int]], stats_socket: Path) -> str:
    """compose's HAProxy configuration for processes on this machine: the same defaults, checks and retries,
    with our bind address, one `server` line per replica instead of Docker's DNS, and a stats socket."""
    out: list[str] = []
    skipping = False
    for line in compose_config.splitlines():
        stripped = line.strip()
        if line.startswith("resolvers "):  # Docker's DNS section: not here
            skipping = True
            continue
        if skipping and line and not line[0].isspace() and not line.startswith("#"):
            skipping = False
        if skipping:
            continue
        if stripped.startswith("bind "):
            out.append(f"    bind {bind}")
        elif stripped.startswith("server-template "):
            out.extend(f"    server {name} {HOST}:{port}" for name, port in servers)
        elif stripped == "global":
            out.extend([line, f"    stats socket {stats_socket} mode 600 level admin"])
        else:
            out.append(line)
    return "\n".join(out) + "\n"


async def _create_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    maintenance = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(maintenance)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Bring up omicsdm's multi-node topology on this machine; Ctrl-C stops it.",
    )
    parser.add_argument(
        "--dir", type=Path, default=Path(".multinode"), help="data, logs and state (default .multinode)"
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("OMICSDM_MULTINODE_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--port", type=int, default=8000, help="HAProxy's port (the service's URL)")
    parser.add_argument("--s3-port", type=int, default=8333, help="the S3 gateway's port (browsers upload to it)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--volume-servers", type=int, default=3)
    args = parser.parse_args()
    cluster = Cluster(
        args.dir,
        database_url=args.database_url,
        replicas_count=args.replicas,
        volume_servers_count=args.volume_servers,
        proxy_port=args.port,
        s3_port=args.s3_port,
    )
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    with cluster:
        print(
            f"up in {time.monotonic() - started:.1f} s\n\n{cluster.describe()}\n\nCtrl-C stops everything.", flush=True
        )
        while not stop:
            dead = [p.name for p in cluster.processes if not p.alive]
            if dead:
                print(f"exited: {', '.join(dead)} (see {cluster.logs})", file=sys.stderr, flush=True)
                break
            time.sleep(1)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
