"""FastAPI dependencies: long-lived clients from the lifespan, the request's session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from omicsdm.auth.jwt import TokenVerifier
from omicsdm.auth.principal import Principal
from omicsdm.auth.secrets import LinkTokens, UploadTokens
from omicsdm.errors import NotAuthenticated
from omicsdm.services import identity
from omicsdm.services.signer import Signer
from omicsdm.settings import Settings
from omicsdm.storage import Storage


@dataclass
class AppState:
    """Everything the lifespan opens; one per process, shared by all requests."""

    settings: Settings
    engine: AsyncEngine
    listings: AsyncEngine  # the overview's pages: autocommit reads (db/engine.py)
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: Storage
    http: httpx.AsyncClient
    verifier: TokenVerifier
    upload_tokens: UploadTokens
    link_tokens: LinkTokens
    signer: Signer


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def` dependency in a
# worker thread, a thread hop per dependency per request (5% of an overview page's CPU when it did).
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.omicsdm
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: State) -> Settings:
    return state.settings


async def get_storage(state: State) -> Storage:
    return state.storage


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back when it raises."""
    async with state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            # A request that never used the database (a cached principal, no query) has nothing to
            # commit; skipping it saves half of what the unused session cost (0.1 ms here).
            if session.in_transaction() or session.new or session.dirty or session.deleted:
                await session.commit()


async def get_listings(state: State) -> AsyncEngine:
    return state.listings


AppSettings = Annotated[Settings, Depends(get_settings_dep)]
Listings = Annotated[AsyncEngine, Depends(get_listings)]
Storage_ = Annotated[Storage, Depends(get_storage)]
# scope="function": commit before the response is sent, so a client never acts on a 2xx whose
# rows do not exist yet (FastAPI's default runs the exit code after the response).
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]

oidc_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="oidc",
    bearerFormat="JWT",
    description="An OIDC access token from the identity provider (Keycloak), or from the dev login in dev mode.",
)
api_token = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    bearerFormat="odm_…",
    description="A personal API token (POST /api/auth/tokens), for scripts and the CLI.",
)
Credentials = HTTPAuthorizationCredentials | None


async def get_current_user(
    state: State,
    session: Session,
    oidc: Annotated[Credentials, Depends(oidc_bearer)],
    token: Annotated[Credentials, Depends(api_token)],
) -> Principal:
    """Both schemes read the same Authorization header; declaring both lets Swagger offer each."""
    credentials = oidc or token
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("authentication required: send Authorization: Bearer <token>")
    return await identity.resolve(session, state.verifier, credentials.credentials, state.settings.auth)


CurrentUser = Annotated[Principal, Depends(get_current_user)]
