"""Message templates: plain text and HTML, carrying the product name."""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import quote, urlencode

# Coder's notification template id for "One-Time Passcode" (spec §5.3).
OTP_TEMPLATE_ID = "62f86a30-2330-4b61-a26d-311ff3b608cf"
PASSWORD_CHANGED_TEMPLATE_ID = "authsvc-password-changed"  # noqa: S105 - an id
TEMPLATE_HEADER = "X-Authsvc-Template"


@dataclass(frozen=True)
class Rendered:
    """A rendered message, ready to queue."""

    template: str
    to: str
    subject: str
    text: str
    html: str


def _page(
    title: str,
    paragraphs: list[str],
    action: tuple[str, str] | None = None,
    after: list[str] | None = None,
) -> str:
    """An HTML mail: paragraphs, then the action button, then the paragraphs `after` it."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    if action:
        label, url = action
        body += (
            f'<p><a href="{html.escape(url)}" style="display:inline-block;padding:10px 16px;'
            f'background:#2563eb;color:#ffffff;text-decoration:none;border-radius:6px">'
            f"{html.escape(label)}</a></p>"
        )
    body += "".join(f"<p>{p}</p>" for p in after or [])
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'</head><body style="font-family:sans-serif;line-height:1.5">{body}</body></html>'
    )


def reset_link(public_url: str, code: str, email: str) -> str:
    """PUBLIC_URL/reset-password/change?otp=...&email=... as Coder's newer template has it."""
    query = urlencode({"otp": code, "email": email}, quote_via=quote)
    return f"{public_url}/reset-password/change?{query}"


def one_time_passcode(
    product: str, username: str, email: str, code: str, public_url: str
) -> Rendered:
    """The password-reset mail (Coder's link-based "One-Time Passcode" template)."""
    link = reset_link(public_url, code, email)
    text = (
        f"Hi {username},\n\n"
        "Use the link below to reset your password.\n\n"
        f"Reset password: {link}\n\n"
        f"Or enter this one-time passcode: {code}\n\n"
        "If you did not make this request, you can ignore this message.\n"
    )
    page = _page(
        f"Reset your password for {product}",
        [
            f"Hi {html.escape(username)},",
            "Use the button below to reset your password.",
        ],
        ("Reset password", link),
        after=[
            f"Or enter this one-time passcode: <strong>{html.escape(code)}</strong>",
            "If you did not make this request, you can ignore this message.",
        ],
    )
    return Rendered(OTP_TEMPLATE_ID, email, f"Reset your password for {product}", text, page)


def password_changed(product: str, username: str, email: str, when: str) -> Rendered:
    """The notice sent after a password reset."""
    text = (
        f"Hi {username},\n\n"
        f"The password of your {product} account was changed at {when}, and every session "
        "was signed out.\n\n"
        "If you did not do this, reset your password now and contact your administrator.\n"
    )
    page = _page(
        f"Your {product} password was changed",
        [
            f"Hi {html.escape(username)},",
            f"The password of your {html.escape(product)} account was changed at "
            f"{html.escape(when)}, and every session was signed out.",
            "If you did not do this, reset your password now and contact your administrator.",
        ],
    )
    return Rendered(
        PASSWORD_CHANGED_TEMPLATE_ID, email, f"Your {product} password was changed", text, page
    )


def to_email(rendered: Rendered, sender: str) -> EmailMessage:
    """A MIME message (plain text with an HTML alternative)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = rendered.to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain="authsvc")
    message[TEMPLATE_HEADER] = rendered.template
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
