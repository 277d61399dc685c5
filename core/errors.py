"""Errors a user can fix, shared by the CLI and plugins' commands."""
from __future__ import annotations


class CliError(Exception):
    """An error the user can fix; ``muselink`` prints it as one line and exits 1."""
