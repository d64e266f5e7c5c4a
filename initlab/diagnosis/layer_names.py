"""Layer names short enough for an 80-column table and still telling the layers apart: a long name is cut in the
middle to a head and a tail that no other layer's name has together ('…nv_1_reduction_left1_stem_1' names one
of NASNet's 389 layers), so the part left is the part that names it."""

import numpy as np

ELLIPSIS = "…"
SEPARATORS = "_/.-: "


def column(names: list[str], every_name: list[str], least: int, most: int) -> tuple[int, dict[str, str]]:
    """A layer column for `names`: its width (`least` to `most`, as narrow as the longest name allows, as wide as
    the names need to stay apart) and each name as shown in it: whole if it fits, else cut to a head and a tail
    no other name in `every_name` has together (the head about a third, ending a word where it can), whole (to be
    wrapped) where no cut fits."""
    longest = max(map(len, names), default=0)
    if longest <= least:
        return longest, {name: name for name in names}
    shared = _Shared(every_name)
    tails = {name: shared.tails_needed(name) for name in dict.fromkeys(names) if len(name) > least}
    needed = max(min((h + t + 1 for h, t in enumerate(found) if t is not None), default=most + 1)
                 for found in tails.values())
    width = min(longest, max(least, min(needed, most)))
    return width, {name: _cut(name, tails.get(name), width) for name in names}


def _cut(name: str, tails: list | None, width: int) -> str:
    keep = width - 1  # characters around the ellipsis
    if len(name) <= width or tails is None:
        return name
    heads = [h for h, t in enumerate(tails) if t is not None and h + t <= keep]
    if not heads:
        return name
    # a head that ends a word ('convnext_', or none) reads better than one cut inside it ('convn')
    head = min(heads, key=lambda h: (h > 0 and name[h - 1] not in SEPARATORS, abs(h - keep // 3), -h))
    return name[:head] + ELLIPSIS + name[len(name) - (keep - head):]


class _Shared:
    """How many leading and trailing characters a name shares with every other name (numpy over code points)."""

    def __init__(self, every_name: list[str]):
        self.names = sorted(set(every_name))
        self.index = {name: i for i, name in enumerate(self.names)}
        self.forward = _codes(self.names)
        self.backward = _codes([name[::-1] for name in self.names])

    def tails_needed(self, name: str) -> list[int | None]:
        """For each head length h, the shortest tail that with name[:h] no other name has (the ellipsis between
        them standing for any text); None where only the whole name does."""
        i = self.index[name]
        others = np.arange(len(self.names)) != i
        prefix, suffix = _common(self.forward, i)[others], _common(self.backward, i)[others]
        tails: list[int | None] = []
        for head in range(len(name)):
            clashing = suffix[prefix >= head]
            tail = int(clashing.max()) + 1 if clashing.size else 0
            tails.append(tail if head + tail < len(name) else None)
        return tails


def _codes(names: list[str]) -> np.ndarray:
    """Names as rows of code points, zero-padded on the right."""
    width = max(map(len, names), default=1) or 1
    return np.array(names, dtype=f"<U{width}").view(np.uint32).reshape(len(names), width)


def _common(codes: np.ndarray, i: int) -> np.ndarray:
    """How many leading code points each row shares with row i."""
    same = (codes == codes[i]) & (codes[i] != 0)
    return np.cumprod(same, axis=1).sum(axis=1)
