"""One exception hierarchy; the CLI maps it to exit codes (2 = bad input, 1 = internal fault)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two short words."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _number(word: str) -> int | None:
    digits = "".join(ch if ch.isdigit() else " " for ch in word).split()
    return int(digits[-1]) if digits else None


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely misspells, or None when none is close.

    Candidates are those difflib finds similar; the nearest by edit distance wins, then the
    one whose number is nearest (``resnet35`` -> ``resnet34``, not ``resnet50``), then
    difflib's similarity.
    """
    options = [c for c in dict.fromkeys(choices) if isinstance(c, str)]
    similar = difflib.get_close_matches(word, options, n=len(options), cutoff=0.6)
    if not similar:
        return None
    mine = _number(word)

    def rank(choice: str) -> tuple:
        theirs = _number(choice)
        gap = abs(mine - theirs) if mine is not None and theirs is not None else float("inf")
        return (_edits(word, choice), gap, -difflib.SequenceMatcher(None, word, choice).ratio())

    return min(similar, key=rank)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match else ""
