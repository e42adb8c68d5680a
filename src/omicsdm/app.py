"""Application factory and lifespan: the engine, one S3 client and the HTTP client live here."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from omicsdm import metrics
from omicsdm.auth.jwt import TokenVerifier
from omicsdm.auth.secrets import LinkTokens, UploadTokens
from omicsdm.db.engine import make_engine, make_sessionmaker
from omicsdm.deps import AppState
from omicsdm.errors import install_error_handlers
from omicsdm.frontend import content_security_policy, mount_frontend
from omicsdm.openapi import install_openapi
from omicsdm.request_id import HEADER as REQUEST_ID_HEADER
from omicsdm.request_id import RequestIdMiddleware
from omicsdm.routers import admin, auth, catalog, device, drs, files, health, uploads
from omicsdm.services.signer import Signer, SignerCache
from omicsdm.settings import Settings, get_settings
from omicsdm.storage import open_storage
from omicsdm.version import __version__

log = logging.getLogger("omicsdm")

DESCRIPTION = """
The file store of an omics data warehouse. Browsers and scripts upload straight to S3 in parts,
each S3 request signed by this service after it checked what is being signed; every re-upload
becomes a new version; downloads are short-lived presigned URLs; "delete" is a flag.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            engine = make_engine(settings.database)
            stack.push_async_callback(engine.dispose)
            listings = make_engine(settings.database, listings=True)
            stack.push_async_callback(listings.dispose)
            storage = await stack.enter_async_context(open_storage(settings.s3))
            http = await stack.enter_async_context(httpx.AsyncClient())
            if settings.s3.configure_bucket:
                try:
                    await storage.provision_bucket(_browser_origins(settings))
                except Exception as exc:  # S3 down at start: serve anyway, /readyz says why
                    log.warning("bucket set-up skipped: %s", exc)
            sessionmaker = make_sessionmaker(engine)
            tokens = UploadTokens(settings.secret_key.get_secret_value())
            app.state.omicsdm = AppState(
                settings=settings,
                engine=engine,
                listings=listings,
                sessionmaker=sessionmaker,
                storage=storage,
                http=http,
                verifier=TokenVerifier(settings, http),
                upload_tokens=tokens,
                link_tokens=LinkTokens(settings.secret_key.get_secret_value()),
                signer=Signer(settings, tokens, storage, sessionmaker, SignerCache()),
            )
            # Everything loaded so far (modules, ORM models, routes, clients) lives as long as
            # the process. Left in the collector's oldest generation, each full collection walked all of
            # it: 150 ms of CPU every few dozen requests, 4 ms a request on average (overview pages).
            # Frozen, a collection walks only what requests allocate. Collect first: freeze no garbage.
            gc.collect()
            gc.freeze()
            yield

    app = FastAPI(
        title="omicsdm",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    install_error_handlers(app)
    install_openapi(app, settings.max_file_size)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Location", REQUEST_ID_HEADER],
        )
    for router in (
        health.router,
        auth.router,
        device.router,
        catalog.router,
        uploads.router,
        files.router,
        admin.router,
    ):
        app.include_router(router)
    drs.install(app)
    mount_frontend(
        app,
        settings.frontend_dist or Path(__file__).resolve().parents[2] / "frontend" / "dist",
        content_security_policy(settings),
    )
    # /metrics last among the routes (the API's routes are matched first); the two middlewares outermost,
    # around ProblemMiddleware: 500 and 503 answers are counted and carry the request id too.
    metrics.install(app, settings)
    app.add_middleware(RequestIdMiddleware)
    return app


def _browser_origins(settings: Settings) -> list[str]:
    return sorted({settings.public_url.rstrip("/"), *settings.cors_origins})
