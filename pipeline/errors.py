"""Errors the pipeline raises for problems a user can fix; the CLI shows them as one line."""

from __future__ import annotations


class InsidersError(Exception):
    """Base of errors with a message meant for the user (no traceback needed)."""


class IngestError(InsidersError):
    """A file cannot be read as transactions: the message names the file and the problem."""


class ProfileError(InsidersError):
    """A cleaning profile is unknown or malformed."""


class PipelineInputError(InsidersError):
    """Input to a pipeline stage is unusable (missing column, empty data, bad date)."""
