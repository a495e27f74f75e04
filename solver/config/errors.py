"""The error of an invalid configuration: one line per problem."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """Invalid configuration; ``str(error)`` is one line per problem.

    Attributes:
        problems: The problem lines, each ``<key path>: <what> (got <value>); allowed: <...>``.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str]]]:
        return type(self), (self.problems,)
