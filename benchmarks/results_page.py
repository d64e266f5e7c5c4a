"""benchmarks/results.md is one page of sections, one per benchmark script: each script replaces its own."""

from pathlib import Path

PAGE = Path(__file__).resolve().parent / "results.md"


def sections(text: str) -> list[str]:
    """The page cut at its top-level headings ('# ...'), each section with its heading."""
    parts, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("# ") and current:
            parts.append("".join(current))
            current = []
        current.append(line)
    if current:
        parts.append("".join(current))
    return parts


def update(section: str, page: Path = PAGE) -> None:
    """Put `section` (markdown starting with '# <title>') in the page: in place of the sections of the same title
    (the first one's place; any later ones are stale), else at the end."""
    section = section.lstrip("\n")  # a script's section may open with a blank line: its title is the first line
    title = section.splitlines()[0].strip()
    old = sections(page.read_text()) if page.exists() else []
    body = section.rstrip("\n") + "\n\n"
    same = [i for i, part in enumerate(old) if part.splitlines()[0].strip() == title]
    if same:
        old[same[0]] = body
        old = [part for i, part in enumerate(old) if i not in same[1:]]
    else:
        old.append(body)
    page.write_text("".join(old).rstrip("\n") + "\n")
