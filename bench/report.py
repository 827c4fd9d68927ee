"""Tables as plain text (stdout) and as reStructuredText grid tables (RESULTS.rst)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def _widths(self) -> list[int]:
        columns = zip(self.headers, *self.rows, strict=False)
        return [max(len(cell) for cell in column) for column in columns]

    def text(self) -> str:
        widths = self._widths()

        def line(cells: list[str]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

        rule = "  ".join("-" * width for width in widths)
        out = [self.title, "=" * len(self.title), line(self.headers), rule]
        out += [line(row) for row in self.rows]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def rst(self) -> str:
        widths = self._widths()

        def line(cells: list[str]) -> str:
            inner = " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
            return f"| {inner} |"

        def rule(char: str) -> str:
            return "+" + "+".join(char * (width + 2) for width in widths) + "+"

        out = [self.title, "-" * len(self.title), "", rule("-"), line(self.headers), rule("=")]
        for row in self.rows:
            out += [line(row), rule("-")]
        if self.notes:
            out.append("")
            out += [f"* {note}" for note in self.notes]
        return "\n".join(out) + "\n"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def pct(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def times(value: float) -> str:
    return f"{value:.2f}x"
