"""The one exception a user error becomes: the CLI prints it and exits with code 2."""


class UserError(Exception):
    """A mistake in the user's input: names the source (file or --set), the key, what was given and what is allowed."""

    def __init__(self, message: str, source: str | None = None, key: str | None = None):
        self.source, self.key, self.detail = source, key, message
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(part for part in (self.source, self.key) if part)
        return f"{where}: {self.detail}" if where else self.detail


def did_you_mean(given: str, allowed) -> str:
    """' (did you mean 'x'?)' for a near miss among `allowed`, else ''."""
    import difflib

    close = difflib.get_close_matches(str(given), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
