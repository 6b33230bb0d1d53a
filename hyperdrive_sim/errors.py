"""One exception hierarchy; the CLI maps it to exit codes (2 = bad input, 1 = internal fault)."""

from __future__ import annotations


class HyperdriveSimError(Exception):
    """Root of every error the simulator raises on purpose."""

    exit_code = 1


class InputError(HyperdriveSimError):
    """The user's input is wrong; the message says where and what was expected."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        self.detail = message
        super().__init__(message)

    def __str__(self) -> str:
        where = [part for part in (self.file, self.key) if part]
        return ": ".join([*where, self.detail])


class SpecError(InputError):
    """A YAML file is malformed, has an unknown key, or a value of the wrong type or range."""


class NetworkError(InputError):
    """A network is unknown or its layers do not connect."""


class MappingError(InputError):
    """A network cannot be placed on the given system at all (not merely 'does not fit')."""


class OutputError(InputError):
    """An output cannot be written: a file where a folder is expected, no permission, a
    read-only or full file system, a name too long. The user's environment, so exit 2."""

    def __reduce__(self):  # keep file and key when raised in a worker process
        return (self.__class__, (self.detail,), {"file": self.file, "key": self.key})


class WorkerLost(HyperdriveSimError):
    """A worker process died mid-run (killed, or out of memory). Finished points are cached;
    rerunning resumes. Exit code 4 (docs/limits.md, "Exit codes")."""

    exit_code = 4


class SimulationError(HyperdriveSimError):
    """An internal invariant broke during evaluation (a bug, not a user mistake)."""
