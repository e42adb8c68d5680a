"""How transfers report progress; the CLI draws it with rich, library users may pass their own."""

from __future__ import annotations

from typing import Protocol


class ProgressTask(Protocol):
    def advance(self, amount: int) -> None: ...

    def close(self) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int, completed: int = 0) -> ProgressTask: ...

    def note(self, message: str) -> None: ...


class _NullTask:
    def advance(self, amount: int) -> None:
        pass

    def close(self) -> None:
        pass


class NullProgress:
    def task(self, description: str, total: int, completed: int = 0) -> ProgressTask:
        return _NullTask()

    def note(self, message: str) -> None:
        pass
