"""What a batch run tells the officer: the progress line while it runs and the :class:`Summary` after.

Neither class does any matching; :func:`matcher.batch.match_file` feeds them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass
class Summary:
    """Counts and timings of one run, returned by ``match_file`` and printed by ``parkmatch match``."""

    input: str
    output: str
    format: str
    encoding: str | None
    engine: str
    rows_read: int = 0
    matched: int = 0  # firms with recommendations, with or without warnings
    matched_with_warnings: int = 0
    no_feasible_park: int = 0
    recommendations: int = 0
    rejected: int = 0
    rejected_by_field: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    chunks: int = 0
    chunks_resumed: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    rejects_path: str | None = None
    firms_path: str | None = None
    allocation: dict[str, Any] | None = None
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [
            f"input     {self.input} ({self.format}{', ' + self.encoding if self.encoding else ''})",
            f"rows read {self.rows_read:,}: matched {self.matched - self.matched_with_warnings:,}, "
            f"matched with warnings {self.matched_with_warnings:,}, "
            f"no feasible park {self.no_feasible_park:,}, rejected {self.rejected:,}"
            f"  ({self.recommendations:,} recommendation rows)",
        ]
        if self.rejected_by_field:
            lines.append(
                "rejected  " + ", ".join(f"{k}: {v:,}" for k, v in sorted(self.rejected_by_field.items()))
            )
        if self.ignored_columns:
            lines.append("ignored columns: " + ", ".join(self.ignored_columns))
        lines.append(
            f"time      {self.seconds:.1f} s, {self.rows_per_s:,.0f} rows/s, engine {self.engine}, "
            f"{self.chunks} chunks" + (f" ({self.chunks_resumed} resumed)" if self.chunks_resumed else "")
        )
        if self.allocation:
            a = self.allocation
            lines.append(
                f"allocate  coverage {a['coverage_before']:.1%} → {a['coverage_after']:.1%} "
                f"of {a['n_parks']} parks; "
                f"Gini of first choices {a['gini_before']:.3f} → {a['gini_after']:.3f}; "
                f"{a['moved']:,} firms moved, {a['unallocated']:,} with every listed park full"
            )
        lines.append(
            f"output    {self.output}"
            + (f"  (rejects: {self.rejects_path})" if self.rejects_path else "")
            + (f"  (every row: {self.firms_path})" if self.firms_path else "")
        )
        lines.extend(self.messages)
        return "\n".join(lines)


class Progress:
    """One-line bar with rows/s and ETA on a terminal; plain lines every ``interval`` s otherwise."""

    def __init__(self, enabled: bool, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if not self.tty else 0.2
        self.start = time.monotonic()
        self.last = 0.0
        self.last_rows = -1

    def update(self, rows: int, fraction: float | None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if (not force and now - self.last < self.interval) or rows == self.last_rows:
            return
        self.last, self.last_rows = now, rows
        dt = max(now - self.start, 1e-9)
        rate = rows / dt
        eta = ""
        if fraction:
            eta = f" ETA {max(dt / fraction - dt, 0):.0f} s"
        if self.tty:
            share = fraction or 0.0
            bar = "#" * int(share * 30)
            self.stream.write(f"\r[{bar:<30}] {share:5.1%} {rows:,} rows {rate:,.0f} rows/s{eta}   ")
        else:
            pct = f" ({fraction:.0%})" if fraction else ""
            self.stream.write(f"parkmatch match: {rows:,} rows{pct}, {rate:,.0f} rows/s{eta}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
