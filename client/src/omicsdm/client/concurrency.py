"""Running a few coroutines together, failing like one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from omicsdm.client.errors import ClientError


async def run_all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run them concurrently; the first failure cancels the others and is raised as itself.

    asyncio.TaskGroup wraps failures in an ExceptionGroup; callers here map single errors to results
    and exit codes, so the group is unwrapped (a ClientError is preferred, as it says what failed).
    """
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as failed:
        raise first_error(failed) from failed


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []

    def collect(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                collect(inner)
        else:
            leaves.append(error)

    collect(group)
    return next((e for e in leaves if isinstance(e, ClientError)), leaves[0])
