"""Access logs never carry upload tokens or presigned signatures."""

from __future__ import annotations

import logging
import logging.config

import pytest

from omicsdm.logs import log_config


def test_access_log_redacts_upload_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(log_config())
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5555",
        "GET",
        "/api/uploads/sign?to_sign=x&datetime=y&upload_token=0f1e.1766.c2VjcmV0&canonical_request=z",
        "1.1",
        200,
    )
    logging.getLogger("omicsdm.test").warning("url https://s3/x?X-Amz-Signature=abcdef&X-Amz-Credential=AKID/x")
    err = capsys.readouterr().err
    assert "c2VjcmV0" not in err and "abcdef" not in err and "AKID" not in err
    assert "upload_token=REDACTED" in err
    assert "WARNING omicsdm.test" in err


def test_access_log_redacts_download_link_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(log_config())
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5555", "GET", "/api/links/0f1e.3.a1b2.1766.c2VjcmV0", "1.1", 302
    )
    err = capsys.readouterr().err
    assert "c2VjcmV0" not in err and "/api/links/REDACTED" in err
