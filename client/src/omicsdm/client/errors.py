"""Client errors and the command's exit codes (documented in docs/cli.md)."""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1  # unexpected error (a bug): please report it
    USAGE = 2  # bad arguments or configuration
    AUTH = 3  # not logged in, or the token was refused (401)
    FORBIDDEN = 4  # the service refused the action (403), including the signer
    NOT_FOUND = 5  # no such project, dataset, file or version (404), or a local path missing
    REJECTED = 6  # the service refused the request as invalid or conflicting (409, 413, 422...)
    UNAVAILABLE = 7  # the service or S3 could not be reached, or answered 5xx, after retries
    TRANSFER = 8  # an S3 transfer failed (S3 refused a part, a download, a completion)
    INTEGRITY = 9  # size or checksum mismatch: the bytes are not what was recorded
    LOCAL_IO = 10  # a local file or folder could not be read or written
    INTERRUPTED = 130  # Ctrl-C; rerun the same command to resume


class ClientError(Exception):
    """An error the command reports in one line and turns into an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApiError(ClientError):
    """A problem+json (or other non-2xx) answer of the service."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        self.status = status
        self.problem = problem or {}
        self.problem_code = str(self.problem.get("code", ""))  # stable; branch on this, never on text
        super().__init__(f"HTTP {status}: {detail}", code_for_status(status))


class TransferError(ClientError):
    def __init__(self, message: str, code: ExitCode = ExitCode.TRANSFER) -> None:
        super().__init__(message, code)


class IntegrityError(ClientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.INTEGRITY)


def code_for_status(status: int) -> ExitCode:
    if status == 401:
        return ExitCode.AUTH
    if status == 403:
        return ExitCode.FORBIDDEN
    if status == 404:
        return ExitCode.NOT_FOUND
    if status >= 500 or status == 429:
        return ExitCode.UNAVAILABLE
    return ExitCode.REJECTED
