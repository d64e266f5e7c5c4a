"""Counts in words, the noun agreeing: '1 layer', '2 layers'."""


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 layer', '2 layers'; `plural` where an added s is wrong ('2 not checked')."""
    return f"{count} {noun if count == 1 else plural if plural is not None else noun + 's'}"
