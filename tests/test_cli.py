"""The `omicsdm` command-line client against the app on a real port, real PostgreSQL and real SeaweedFS:
login, catalog, folder uploads with versions, resume after an interruption, verified and resumable
downloads, soft deletion, exit codes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from omicsdm.cli.main import app as cli_app
from omicsdm.client.api import ApiClient
from omicsdm.client.errors import ExitCode, TransferError
from omicsdm.client.local import Source
from omicsdm.client.s3 import SignedS3
from omicsdm.client.transfer import Downloader, Uploader
from omicsdm.client.transport import TRANSPORTS
from omicsdm.client.wire import Wire
from omicsdm.embedded.seaweedfs import S3Endpoint
from tests.support.idp import LocalIdP
from tests.support.live import LiveApp, LiveWorld, live_world, serve
from tests.support.uploading import upload_file

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def live(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> Iterator[LiveApp]:
    with serve(database_url, s3, idp, bucket) as running:
        yield running


@pytest.fixture
async def lw(live: LiveApp, idp: LocalIdP, database_url: str) -> AsyncIterator[LiveWorld]:
    async with live_world(live, idp, database_url) as world:
        yield world


@dataclass
class Cli:
    """Runs `omicsdm ...` in-process (in a thread: the command runs its own event loop)."""

    world: LiveWorld
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "config.toml"

    @property
    def state(self) -> Path:
        return self.home / "state"

    def env(self, token: str | None, server: str | None) -> dict[str, str | None]:
        return {
            "OMICSDM_SERVER": server,
            "OMICSDM_TOKEN": token,
            "OMICSDM_CONFIG": str(self.config),
            "OMICSDM_STATE_DIR": str(self.state),
            "COLUMNS": "250",
        }

    async def __call__(
        self, *args: str, token: str | None = "alice", server: str | None = "live", expect: int | None = 0
    ) -> Result:
        token = {"alice": self.world.alice_api_token, "bob": self.world.bob_api_token}.get(token or "", token)
        env = self.env(token, self.world.url if server == "live" else server)
        result = await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    async def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads((await self(*args, "--json", **kwargs)).stdout)


@pytest.fixture(params=TRANSPORTS)
def s3_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a transfer test once per S3 transport (wire, httpx, aiohttp), chosen as users do: the setting."""
    monkeypatch.setenv("OMICSDM_TRANSPORT", request.param)
    return str(request.param)


@pytest.fixture
def cli(lw: LiveWorld, tmp_path: Path) -> Cli:
    return Cli(lw, tmp_path / "home")


def write(path: Path, data: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def state_files(cli: Cli) -> list[Path]:
    root = cli.state / "uploads"
    return sorted(root.glob("*.json")) if root.exists() else []


async def test_login_keeps_the_token_private_and_env_overrides_it(cli: Cli, lw: LiveWorld) -> None:
    refused = await cli("login", "--server", lw.url, "--token", "odm_not-a-token", token=None, server=None, expect=3)
    assert "HTTP 401" in refused.stderr
    assert not cli.config.exists()

    done = await cli("login", "--server", lw.url + "/", "--token", lw.alice_api_token, token=None, server=None)
    assert "as alice" in done.stderr
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    assert lw.alice_api_token in cli.config.read_text()

    me = await cli.json("whoami", token=None, server=None)  # from the file alone
    assert (me["username"], me["server"]) == ("alice", lw.url)
    assert (await cli.json("whoami", token="bob", server=None))["username"] == "bob"  # OMICSDM_TOKEN wins
    await cli("whoami", token="odm_revoked-or-wrong", server=None, expect=ExitCode.AUTH)

    await cli("logout", token=None, server=None)
    assert lw.alice_api_token not in cli.config.read_text()
    missing = await cli("projects", token=None, server=None, expect=ExitCode.AUTH)
    assert "not logged in" in missing.stderr


async def test_projects_and_datasets_as_tables_and_json(cli: Cli, lw: LiveWorld) -> None:
    projects = await cli.json("projects")
    assert [p["code"] for p in projects] == ["atlas"]
    datasets = await cli.json("datasets", "--project", "atlas")
    assert [(d["code"], d["permissions"]["upload"]) for d in datasets] == [("rnaseq", True)]
    assert (await cli.json("datasets", "--project", lw.project["id"], token="bob"))[0]["permissions"]["upload"] is False
    table = await cli("datasets")
    assert "rnaseq" in table.stdout and "lab-a" in table.stdout
    await cli("datasets", "--project", "nope", expect=ExitCode.NOT_FOUND)


async def test_folder_upload_listing_new_version_and_download(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    folder = tmp_path / "run1"
    content = {
        "run1/a.fastq.gz": write(folder / "a.fastq.gz", os.urandom(6 * MIB + 5)),
        "run1/sub/b.txt": write(folder / "sub" / "b.txt", b"first version\n"),
        "run1/sub/deeper/c.bam": write(folder / "sub" / "deeper" / "c.bam", os.urandom(11 * MIB)),
        "run1/empty.tsv": write(folder / "empty.tsv", b""),
    }
    uploaded = await cli.json("upload", str(folder), "-d", "atlas/rnaseq", "--part-size", "5M", "-j", "3")
    assert sorted(r["name"] for r in uploaded) == sorted(content)
    assert {(r["status"], r["version"], r["checksum_state"]) for r in uploaded} == {("uploaded", 1, "verified")}
    by_name = {r["name"]: r for r in uploaded}
    assert by_name["run1/sub/deeper/c.bam"]["parts_total"] == 3
    assert by_name["run1/a.fastq.gz"]["sha256"] == hashlib.sha256(content["run1/a.fastq.gz"]).hexdigest()
    assert state_files(cli) == []  # nothing left to resume

    listed = await cli.json("ls", "--dataset", "rnaseq")
    assert sorted(r["name"] for r in listed) == sorted(content)
    assert {r["name"] for r in await cli.json("ls", "--ext", "txt")} == {"run1/sub/b.txt"}
    assert {r["name"] for r in await cli.json("ls", "--name", "SUB")} == {"run1/sub/b.txt", "run1/sub/deeper/c.bam"}
    assert len(await cli.json("ls", "--project", "atlas", "--submitter", "alice", "--since", "2000-01-01")) == 4
    assert await cli.json("ls", "--until", "2000-01-01") == []
    assert len(await cli.json("ls", "--limit", "2", "--sort", "name")) == 2
    table = await cli("ls", "--limit", "2")
    assert "2 of 4 files shown" in table.stderr

    again = await cli.json("upload", str(folder), "-d", "rnaseq")
    assert {r["status"] for r in again} == {"unchanged"}

    content["run1/sub/b.txt"] = write(folder / "sub" / "b.txt", b"second version, longer\n")
    third = await cli.json("upload", str(folder), "-d", "rnaseq")
    assert {r["name"]: (r["status"], r["version"]) for r in third}["run1/sub/b.txt"] == ("uploaded", 2)
    assert sorted(r["status"] for r in third) == ["unchanged"] * 3 + ["uploaded"]
    b_id = by_name["run1/sub/b.txt"]["file_id"]
    history = await cli.json("versions", b_id)
    assert [v["version"] for v in sorted(history["versions"], key=lambda v: v["version"])] == [1, 2]
    table = (await cli("versions", b_id)).stdout
    assert "SHA-256 declared by the uploader" in table and "checksum_state" not in table

    out = tmp_path / "out"
    fetched = await cli.json("download", "--dataset", "atlas/rnaseq", "-o", str(out), "-j", "3", "--chunk-size", "4M")
    assert {(r["status"], r["verified"]) for r in fetched} == {("downloaded", "sha256")}
    for name, data in content.items():
        assert (out / name).read_bytes() == data, name
    assert not list(out.rglob("*.part*"))

    again_fetched = await cli.json("download", "--dataset", "rnaseq", "-o", str(out))
    assert {r["status"] for r in again_fetched} == {"present"}

    old = tmp_path / "old"
    await cli("download", f"{b_id}@1", "-o", str(old))
    assert (old / "run1" / "sub" / "b.txt").read_bytes() == b"first version\n"
    clash = await cli("download", f"{b_id}@1", "-o", str(out), expect=ExitCode.REJECTED)
    assert "--overwrite" in clash.stderr
    await cli("download", f"{b_id}@1", "-o", str(out), "--overwrite")
    assert (out / "run1" / "sub" / "b.txt").read_bytes() == b"first version\n"


async def test_interrupted_upload_resumes_with_only_the_missing_parts(
    cli: Cli, lw: LiveWorld, live: LiveApp, tmp_path: Path, s3_admin: Any, s3_transport: str
) -> None:
    data = write(tmp_path / "big.bam", os.urandom(4 * 5 * MIB + 1000))  # 5 parts of 5 MiB
    sent: list[int] = []
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        # no part read ahead, so exactly parts 1 and 2 are in S3 when the network goes
        uploader = Uploader(api, state_dir=cli.state, parallel=1, part_size=5 * MIB, read_ahead=0)

        def network_loss_after_two(_: Source, number: int) -> None:
            sent.append(number)
            if len(sent) == 2:
                task.cancel()  # what Ctrl-C does to the command's task

        uploader.on_part = network_loss_after_two
        task = asyncio.create_task(
            uploader.upload([Source(tmp_path / "big.bam", "big.bam")], uuid.UUID(lw.dataset["id"]))
        )
        with pytest.raises(asyncio.CancelledError):
            await task
        await uploader.aclose()
    assert sent == [1, 2]
    [state_file] = state_files(cli)
    saved = json.loads(state_file.read_text())
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    in_s3 = s3_admin.list_parts(Bucket=live.bucket, Key=saved["object_key"], UploadId=saved["s3_upload_id"])
    assert [p["PartNumber"] for p in in_s3["Parts"]] == [1, 2]

    [result] = await cli.json("upload", str(tmp_path / "big.bam"), "-d", lw.dataset["id"], "--part-size", "5M")
    assert result["resumed"] is True
    assert result["upload_id"] == saved["upload_id"]
    assert (result["parts_total"], result["parts_reused"], result["parts_sent"]) == (5, 2, 3)
    assert (result["version"], result["checksum_state"]) == (1, "verified")
    # hashed across both runs: reused parts read back, sent parts from their buffers
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert state_files(cli) == []

    out = tmp_path / "out"
    await cli("download", result["file_id"], "-o", str(out))
    assert (out / "big.bam").read_bytes() == data


async def test_resume_resends_a_part_that_differs_from_the_local_file(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    data = write(tmp_path / "reads.fastq", os.urandom(3 * 5 * MIB))
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        uploader = Uploader(api, state_dir=cli.state, parallel=1, part_size=5 * MIB, read_ahead=0)
        uploader.on_part = lambda _, number: task.cancel() if number == 2 else None
        task = asyncio.create_task(
            uploader.upload([Source(tmp_path / "reads.fastq", "reads.fastq")], uuid.UUID(lw.dataset["id"]))
        )
        with pytest.raises(asyncio.CancelledError):
            await task
        await uploader.aclose()
        [state_file] = state_files(cli)
        saved = json.loads(state_file.read_text())
        # Part 1 in S3 now holds other bytes (as if the file had been edited in between).
        upload = await api.get_upload(uuid.UUID(saved["upload_id"]))
        wire = Wire()
        other = os.urandom(5 * MIB)
        await SignedS3(api, wire, upload).put_part(saved["s3_upload_id"], 1, other, hashlib.md5(other).hexdigest())
        await wire.aclose()

    [result] = await cli.json("upload", str(tmp_path / "reads.fastq"), "-d", "rnaseq", "--part-size", "5M")
    assert (result["parts_reused"], result["parts_sent"]) == (1, 2)
    out = tmp_path / "out"
    await cli("download", result["file_id"], "-o", str(out))
    assert (out / "reads.fastq").read_bytes() == data


async def test_resume_without_local_state_uses_the_services_upload_id(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    data = write(tmp_path / "x.vcf", os.urandom(2 * 5 * MIB))
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        uploader = Uploader(api, state_dir=cli.state, parallel=1, part_size=5 * MIB, read_ahead=0)
        uploader.on_part = lambda _, number: task.cancel()
        task = asyncio.create_task(uploader.upload([Source(tmp_path / "x.vcf", "x.vcf")], uuid.UUID(lw.dataset["id"])))
        with pytest.raises(asyncio.CancelledError):
            await task
        await uploader.aclose()
    for path in state_files(cli):
        path.unlink()  # another machine, or a wiped cache: the S3 UploadId is unknown here

    result = await cli("upload", str(tmp_path / "x.vcf"), "-d", "rnaseq", "--part-size", "5M", "--json")
    [row] = json.loads(result.stdout)
    # the service reports the bound S3 UploadId, so the upload resumes from any machine
    assert (row["status"], row["resumed"], row["parts_reused"], row["parts_sent"]) == ("uploaded", True, 1, 1)
    out = tmp_path / "out"
    await cli("download", row["file_id"], "-o", str(out))
    assert (out / "x.vcf").read_bytes() == data


async def test_a_file_changed_during_its_upload_is_not_recorded(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    path = tmp_path / "growing.log"
    write(path, os.urandom(2 * 5 * MIB))

    def someone_writes_to_it(_: Source, number: int) -> None:
        if number == 1:
            os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))

    async with ApiClient(lw.url, lw.alice_api_token) as api:
        uploader = Uploader(api, state_dir=cli.state, parallel=1, part_size=5 * MIB, on_part=someone_writes_to_it)
        try:
            [result] = await uploader.upload([Source(path, "growing.log")], uuid.UUID(lw.dataset["id"]))
        finally:
            await uploader.aclose()
    assert result.status == "failed" and result.error is not None
    assert result.error.code == ExitCode.INTEGRITY and "changed while" in result.error.message
    assert await cli.json("ls") == []


async def test_a_failed_part_fails_its_file_only_and_the_rerun_resumes(
    cli: Cli, lw: LiveWorld, live: LiveApp, tmp_path: Path, s3_admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = write(tmp_path / "big.bam", os.urandom(3 * 5 * MIB))
    write(tmp_path / "small.tsv", b"a\tb\n")
    put_part = SignedS3.put_part
    part_1_stored = asyncio.Event()

    async def s3_gives_up_on_part_2(self: SignedS3, upload_id: str, number: int, *args: Any) -> str:
        if self.upload.name == "big.bam" and number == 2:
            await part_1_stored.wait()
            raise TransferError("S3 refused UploadPart 2: HTTP 500 InternalError (simulated)")
        etag = await put_part(self, upload_id, number, *args)
        if self.upload.name == "big.bam" and number == 1:
            part_1_stored.set()
        return etag

    monkeypatch.setattr(SignedS3, "put_part", s3_gives_up_on_part_2)
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        uploader = Uploader(api, state_dir=cli.state, parallel=1, part_size=5 * MIB, read_ahead=0)
        try:
            results = await uploader.upload(
                [Source(tmp_path / "big.bam", "big.bam"), Source(tmp_path / "small.tsv", "small.tsv")],
                uuid.UUID(lw.dataset["id"]),
            )
        finally:
            await uploader.aclose()
    by_name = {r.source.name: r for r in results}
    assert by_name["small.tsv"].status == "uploaded"
    failed = by_name["big.bam"]
    assert failed.status == "failed" and failed.error is not None and failed.error.code == ExitCode.TRANSFER

    [state_file] = state_files(cli)
    saved = json.loads(state_file.read_text())
    in_s3 = s3_admin.list_parts(Bucket=live.bucket, Key=saved["object_key"], UploadId=saved["s3_upload_id"])
    assert [p["PartNumber"] for p in in_s3["Parts"]] == [1]  # nothing read ahead: part 3 never started
    monkeypatch.setattr(SignedS3, "put_part", put_part)

    [again] = await cli.json("upload", str(tmp_path / "big.bam"), "-d", "rnaseq", "--part-size", "5M")
    assert (again["resumed"], again["parts_reused"], again["parts_sent"]) == (True, 1, 2)
    out = tmp_path / "out"
    await cli("download", again["file_id"], "-o", str(out))
    assert (out / "big.bam").read_bytes() == big


async def test_a_failed_download_fails_its_file_only(
    cli: Cli, lw: LiveWorld, live: LiveApp, tmp_path: Path, s3_admin: Any
) -> None:
    write(tmp_path / "ok.tsv", b"ok\n")
    [row] = await cli.json("upload", str(tmp_path / "ok.tsv"), "-d", "rnaseq")
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        [good] = (await api.download_links([(uuid.UUID(row["file_id"]), None)])).items
        gone = s3_admin.generate_presigned_url(
            "get_object", Params={"Bucket": live.bucket, "Key": "datasets/no-such-object"}, ExpiresIn=600
        )
        missing = good.model_copy(update={"name": "missing.tsv", "url": gone})
        downloader = Downloader(api)
        try:
            results = await downloader.download([missing, good], tmp_path / "out")
        finally:
            await downloader.aclose()
    assert [r.status for r in results] == ["failed", "downloaded"]
    assert results[0].error is not None and results[0].error.code == ExitCode.TRANSFER
    assert "404" in results[0].error.message
    assert (tmp_path / "out" / "ok.tsv").read_bytes() == b"ok\n"


async def test_download_fails_loudly_when_the_recorded_checksum_differs(
    cli: Cli, lw: LiveWorld, tmp_path: Path
) -> None:
    good = b"gene\tcount\nA\t1\n" * 1000
    async with httpx.AsyncClient(base_url=lw.url, timeout=30) as client:
        # The service records the SHA-256 the uploader declares; declare one of other bytes on purpose.
        bad = await upload_file(
            client, lw.alice.headers, lw.dataset["id"], "tampered.tsv", good, sha256=hashlib.sha256(b"x").hexdigest()
        )
        fine = await upload_file(
            client, lw.alice.headers, lw.dataset["id"], "fine.tsv", good, sha256=hashlib.sha256(good).hexdigest()
        )
    out = tmp_path / "out"
    result = await cli("download", bad["file_id"], fine["file_id"], "-o", str(out), expect=ExitCode.INTEGRITY)
    assert "SHA-256 mismatch" in result.stderr
    assert not (out / "tampered.tsv").exists()
    assert (out / "tampered.tsv.part").exists()  # kept for inspection, under a name that says it is unfinished
    assert not (out / "tampered.tsv.part.json").exists()  # a rerun starts afresh
    assert (out / "fine.tsv").read_bytes() == good

    again = await cli("download", bad["file_id"], "-o", str(out), "--json", expect=ExitCode.INTEGRITY)
    assert json.loads(again.stdout)[0]["exit_code"] == ExitCode.INTEGRITY


async def test_interrupted_download_resumes_with_ranges(
    cli: Cli, lw: LiveWorld, tmp_path: Path, s3_transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(tmp_path / "matrix.h5ad", os.urandom(6 * MIB + 321))
    [row] = await cli.json("upload", str(tmp_path / "matrix.h5ad"), "-d", "rnaseq")
    out = tmp_path / "out"
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        links = await api.download_links([(uuid.UUID(row["file_id"]), None)])
        downloader = Downloader(api, parallel=1, chunk_size=MIB)
        downloader.on_chunk = lambda _, index: task.cancel() if index == 2 else None
        task = asyncio.create_task(downloader.download(links.items, out))
        with pytest.raises(asyncio.CancelledError):
            await task
        await downloader.aclose()
    assert (out / "matrix.h5ad.part").exists() and (out / "matrix.h5ad.part.json").exists()
    assert not (out / "matrix.h5ad").exists()

    monkeypatch.setenv("OMICSDM_TRANSPORT", "carrier-pigeon")
    refused = await cli("download", row["file_id"], "-o", str(out), expect=ExitCode.USAGE)
    assert "unknown transport 'carrier-pigeon'" in refused.stderr
    [result] = await cli.json(
        "download", row["file_id"], "-o", str(out), "--chunk-size", "1M", "--transport", s3_transport
    )
    assert (result["reused"], result["fetched"]) == (3 * MIB, len(data) - 3 * MIB)
    assert result["verified"] == "sha256"
    assert (out / "matrix.h5ad").read_bytes() == data
    assert sorted(p.name for p in out.iterdir()) == ["matrix.h5ad"]


async def test_direct_io_downloads_resume_and_stay_exact(
    cli: Cli, lw: LiveWorld, tmp_path: Path, s3_transport: str
) -> None:
    """Large files bypass the page cache (threshold lowered here): aligned pieces go out with O_DIRECT, the
    unaligned tail through the page cache; an interrupted run resumes and its SHA-256 covers every byte,
    the kept chunks read back from disk."""
    data = write(tmp_path / "reads.bam", os.urandom(5 * MIB + 777))
    [row] = await cli.json("upload", str(tmp_path / "reads.bam"), "-d", "rnaseq")
    out = tmp_path / "out"
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        links = (await api.download_links([(uuid.UUID(row["file_id"]), None)])).items
        first = Downloader(api, parallel=1, chunk_size=MIB, direct_io_min_size=0)
        first.on_chunk = lambda _, index: task.cancel() if index == 1 else None
        task = asyncio.create_task(first.download(links, out))
        with pytest.raises(asyncio.CancelledError):
            await task
        await first.aclose()
        second = Downloader(api, parallel=4, chunk_size=MIB, direct_io_min_size=0)
        try:
            [result] = await second.download(links, out)
        finally:
            await second.aclose()
        assert (result.status, result.verified, result.reused) == ("downloaded", "sha256", 2 * MIB), result.error
        assert result.direct_bytes == result.fetched - 777 == 3 * MIB
        assert (out / "reads.bam").read_bytes() == data

        (out / "reads.bam").unlink()
        buffered = Downloader(api, chunk_size=MIB, direct_io=False)
        try:
            [again] = await buffered.download(links, out)
        finally:
            await buffered.aclose()
        assert (again.verified, again.direct_bytes) == ("sha256", 0)
        assert (out / "reads.bam").read_bytes() == data


async def test_rm_and_restore(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    write(tmp_path / "a.tsv", b"a\n")
    write(tmp_path / "b.tsv", b"b\n")
    rows = await cli.json("upload", str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv"), "-d", "rnaseq")
    a_id, b_id = (r["file_id"] for r in rows)

    await cli("rm", a_id, token="bob", expect=ExitCode.FORBIDDEN)  # shared with lab-b, owned by lab-a
    removed = await cli("rm", a_id)
    assert "marked deleted" in removed.stderr
    assert [r["name"] for r in await cli.json("ls")] == ["b.tsv"]
    await cli("download", a_id, "-o", str(tmp_path / "out"), expect=ExitCode.NOT_FOUND)
    partly = await cli("rm", str(uuid.uuid4()), b_id, expect=ExitCode.NOT_FOUND)
    assert "marked deleted" in partly.stderr  # the other one was still done
    await cli("restore", a_id, b_id)
    assert sorted(r["name"] for r in await cli.json("ls")) == ["a.tsv", "b.tsv"]


async def test_exit_codes_say_what_failed(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    write(tmp_path / "f.tsv", b"x\n")
    await cli("upload", str(tmp_path / "f.tsv"), "-d", "rnaseq", token="bob", expect=ExitCode.FORBIDDEN)
    await cli("upload", str(tmp_path / "f.tsv"), "-d", "no-such-dataset", expect=ExitCode.NOT_FOUND)
    await cli("upload", str(tmp_path / "missing.tsv"), "-d", "rnaseq", expect=ExitCode.LOCAL_IO)
    await cli("upload", str(tmp_path / "f.tsv"), "-d", "rnaseq", "--part-size", "lots", expect=ExitCode.USAGE)
    rejected = await cli("upload", str(tmp_path / "f.tsv"), "-d", "rnaseq", "--prefix", "..", expect=ExitCode.REJECTED)
    assert "'.' or '..'" in rejected.stderr
    await cli("download", "not-an-id", expect=ExitCode.USAGE)
    await cli("download", expect=ExitCode.USAGE)
    await cli("versions", str(uuid.uuid4()), expect=ExitCode.NOT_FOUND)
    await cli("ls", server="http://127.0.0.1:9", expect=ExitCode.UNAVAILABLE)


async def test_the_installed_command_with_a_manifest(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    """The real `omicsdm` entry point in its own process; a TSV manifest from the API drives the download."""
    data = write(tmp_path / "counts.tsv", b"gene\tcount\nTP53\t7\n")
    [row] = await cli.json("upload", str(tmp_path / "counts.tsv"), "-d", "rnaseq")
    async with httpx.AsyncClient(base_url=lw.url) as client:
        manifest = await client.post(
            "/api/files/manifest",
            params={"format": "tsv"},
            json={"items": [{"file_id": row["file_id"]}]},
            headers=lw.alice.headers,
        )
    assert manifest.status_code == 200, manifest.text
    (tmp_path / "manifest.tsv").write_text(manifest.text)
    env = {
        **os.environ,
        **{k: v for k, v in cli.env(lw.alice_api_token, lw.url).items() if v is not None},
    }
    command = [str(Path(sys.executable).with_name("omicsdm"))]
    out = tmp_path / "out"
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "download", "--manifest", str(tmp_path / "manifest.tsv"), "-o", str(out), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["verified"] == "sha256"
    assert (out / "counts.tsv").read_bytes() == data
    listed = await asyncio.to_thread(
        subprocess.run, [*command, "ls", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert [r["name"] for r in json.loads(listed.stdout)] == ["counts.tsv"]


# --- the byte path (client/transport.py; its conformance tests are in test_transport_conformance.py) ---


async def test_transfers_go_through_httpx_when_a_proxy_applies(
    lw: LiveWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Wire, "_via_proxy", lambda self, key: True)
    data = write(tmp_path / "via-proxy.bin", os.urandom(6 * MIB + 7))
    async with ApiClient(lw.url, lw.alice_api_token) as api:
        uploader = Uploader(api, state_dir=tmp_path / "state", part_size=5 * MIB)
        try:
            [uploaded] = await uploader.upload(
                [Source(tmp_path / "via-proxy.bin", "via-proxy.bin")], uuid.UUID(lw.dataset["id"])
            )
        finally:
            await uploader.aclose()
        assert uploaded.version is not None and uploaded.version.checksum_state == "verified", uploaded.error
        links = await api.download_links([(uploaded.version.file_id, None)])
        downloader = Downloader(api, chunk_size=2 * MIB)
        try:
            [fetched] = await downloader.download(links.items, tmp_path / "out")
        finally:
            await downloader.aclose()
    assert fetched.verified == "sha256", fetched.error
    assert (tmp_path / "out" / "via-proxy.bin").read_bytes() == data
