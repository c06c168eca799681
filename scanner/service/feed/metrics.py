"""The Prometheus text exposition (format 0.0.4) the feed serves at /metrics: families, labels, samples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...amounts import fmt


def prometheus_label(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_number(v: Any) -> str:
    """A sample value. Decimals (amounts, and ratios already rounded by the one rule) and integers are
    written exactly as the report writes them: the text format takes any decimal string, and a scraper
    parsing it to a float loses digits there, not here. Other values are floats (times, durations)."""
    if isinstance(v, Decimal) and v.is_finite():
        return fmt(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    f = float(v)
    return repr(f) if f == f and f not in (float("inf"), float("-inf")) else ("NaN" if f != f else ("+Inf" if f > 0 else "-Inf"))


class Metrics:
    """Families in first-seen order, each with HELP and TYPE once."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[str]]] = {}

    def add(self, name: str, help_text: str, labels: dict, value: Any) -> None:
        if value is None:  # unknown (e.g. not read): no sample, Prometheus' way of saying so, never 0
            return
        fam = self.families.setdefault(name, (help_text, []))
        lab = ",".join(f'{k}="{prometheus_label(v)}"' for k, v in labels.items())
        fam[1].append(f"{name}{{{lab}}} {prometheus_number(value)}" if lab else f"{name} {prometheus_number(value)}")

    def text(self) -> str:
        out = []
        for name, (help_text, samples) in self.families.items():
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} gauge")
            out.extend(samples)
        return "\n".join(out) + "\n"
