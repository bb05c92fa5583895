"""The one error type handlers and services raise; middleware renders it as Coder's envelope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
INCORRECT_LOGIN = "Incorrect email or password."
PASSWORD_AUTH_DISABLED = "Password authentication is disabled."  # noqa: S105 - a message
INVALID_JSON = "Request body must be valid JSON."


@dataclass(frozen=True)
class Validation:
    """One `validations` entry of Coder's error envelope."""

    field: str
    detail: str


@dataclass
class ApiError(Exception):
    """An error with an HTTP status and Coder's `{message, detail?, validations?}` body."""

    status: int
    message: str
    detail: str = ""
    validations: list[Validation] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.message}"

    def body(self) -> dict[str, Any]:
        """The JSON envelope; empty `detail` and `validations` are omitted, as in codersdk."""
        out: dict[str, Any] = {"message": self.message}
        if self.detail:
            out["detail"] = self.detail
        if self.validations:
            out["validations"] = [{"field": v.field, "detail": v.detail} for v in self.validations]
        return out


def forbidden() -> ApiError:
    """Coder's httpapi.Forbidden."""
    return ApiError(
        403,
        "Forbidden.",
        "You don't have permission to view this content. If you believe this is a mistake, "
        "please contact your administrator or try signing in with different credentials.",
    )


def not_found() -> ApiError:
    """Coder's httpapi.ResourceNotFound."""
    return ApiError(404, "Resource not found or you do not have access to this resource")
