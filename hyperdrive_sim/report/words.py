"""Words for the lines the command line prints (kept free of imports: the CLI loads it at
start-up)."""


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 point``, ``2 points`` (``many``: an irregular plural)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
