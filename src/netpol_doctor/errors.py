"""Exceptions that stop a whole command; the CLI turns each into one plain sentence.

Problems inside the input never raise: they are `Finding`s on the Snapshot.
"""

from __future__ import annotations

__all__ = ["NetpolDoctorError", "QuestionError"]


class NetpolDoctorError(Exception):
    """Base class: the message is a complete sentence meant for the user."""


class QuestionError(NetpolDoctorError):
    """The question names something the snapshot does not have (a pod, a Service, a port)."""
