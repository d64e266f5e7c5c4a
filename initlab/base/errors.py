"""The one exception a user error becomes: the CLI prints it and exits with code 2."""


class UserError(Exception):
    """A mistake in the user's input: names the source (file or --set), the key, what was given and what is allowed."""

    def __init__(self, message: str, source: str | None = None, key: str | None = None):
        self.source, self.key, self.detail = source, key, message
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(part for part in (self.source, self.key) if part)
        text = f"{where}: {self.detail}" if where else self.detail
        # one line whatever it quotes: a library's multi-line message, a value or key with line breaks in it
        return " ".join(line.strip() for line in text.splitlines() if line.strip())


def shown(value, limit: int = 80) -> str:
    """A value as the user wrote it in YAML ('many', null, true, [1, 2], {x: 3}), cut short past `limit` characters."""
    import yaml

    try:
        text = repr(value) if isinstance(value, str) else yaml.safe_dump(
            value, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()
    except (yaml.YAMLError, RecursionError):  # values plain YAML cannot write (tuples from !!omap pairs)
        text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def did_you_mean(given: str, allowed) -> str:
    """' (did you mean 'x'?)' for a near miss among `allowed`, else ''."""
    import difflib

    by_lower = {str(a).lower(): str(a) for a in allowed}
    close = difflib.get_close_matches(str(given).lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return ""
    # difflib's ratio favours longer names ('adma' -> 'adamax'); the fewest edits finds the typo ('adam').
    best = min(close, key=lambda name: edits(str(given).lower(), name))
    return f" (did you mean '{by_lower[best]}'?)"


def edits(a: str, b: str) -> int:
    """The optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


class KeyedValueError(ValueError):
    """A ValueError about `key`, a part below the value being validated (the config adds it to the key path)."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key
