"""Option types shared by the commands: bounded numbers (argparse types, no other imports)."""

from __future__ import annotations

import argparse


def bounded_int(low: int, high: int, what: str = "a whole number"):
    """argparse type: an integer within [low, high]. Out of range is a usage error (one line, exit 2),
    never an OverflowError from SQLite or a file read deep in the run."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range ({low} to {high})")
        return value
    return parse


RUN_ID = bounded_int(1, 2**63 - 1, "a run id")
COUNT = bounded_int(0, 10**9, "a whole number")
