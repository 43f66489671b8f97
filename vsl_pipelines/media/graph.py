"""A small builder for one FFmpeg run with several inputs and a `-filter_complex` graph.

Transitions, captions and the soundtrack each add their inputs and chains to the same graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FilterGraph:
    input_args: list[list[str]] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    _labels: int = 0

    def add_input(self, args: Sequence[str | Path]) -> int:
        """Append input options ending in `-i FILE`; returns the input's index."""
        self.input_args.append([str(a) for a in args])
        return len(self.input_args) - 1

    def label(self, prefix: str) -> str:
        self._labels += 1
        return f"[{prefix}{self._labels}]"

    def add(self, chain: str) -> None:
        self.chains.append(chain)

    def args(self) -> list[str]:
        flat = [arg for group in self.input_args for arg in group]
        return [*flat, "-filter_complex", ";".join(self.chains)] if self.chains else flat
