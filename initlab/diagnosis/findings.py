"""What the checklist says of one layer: a finding, built the same way by every check (weights, signal,
normalization, recurrent, embedding and attention)."""

from dataclasses import dataclass

SEVERITIES = ("problem", "note", "not checked")


@dataclass(frozen=True)
class Finding:
    severity: str  # problem | note | not checked
    code: str  # the kind of finding, stable for programs: zero, symmetric, fan_mismatch, expansive_recurrence, ...
    text: str  # what was measured and why it matters
    suggestion: str = ""  # what to change, as Keras code where it can be
    short: str = ""  # a few words for the 80-column table; empty: the text

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"a finding's severity is one of {SEVERITIES}, got {self.severity!r}")

    @property
    def headline(self) -> str:
        return self.short or self.text
