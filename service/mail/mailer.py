"""Sending one message: the Mailer protocol and its adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Protocol

import aiosmtplib

log = logging.getLogger(__name__)


class MailError(Exception):
    """A message could not be handed to the mail server (it will be retried)."""


class Mailer(Protocol):
    """Hands one message to a mail transport. Raises MailError."""

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the SMTP server."""

    host: str
    port: int
    tls: Literal["none", "starttls", "tls"]
    username: str
    password: str
    connect_timeout: float
    timeout: float


class SmtpMailer:
    """Mailer on aiosmtplib: one connection per message, bounded by timeouts."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, message: EmailMessage) -> None:
        c = self._config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.tls == "tls",
            # False, not None: None would upgrade opportunistically, hiding a misconfiguration.
            start_tls=c.tls == "starttls",
            username=c.username or None,
            password=c.password or None,
            timeout=c.timeout,
        )
        try:
            await client.connect(timeout=c.connect_timeout)
            await client.send_message(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()


class ConsoleMailer:
    """Embedded mode: writes each message to the log instead of sending it."""

    async def send(self, message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        # Only used when no SMTP_HOST is configured (trying the service out): the log is the
        # mailbox, so the passcode in the message is printed on purpose.
        log.warning(
            "mail (no SMTP_HOST set; printed instead of sent)\nTo: %s\nSubject: %s\n\n%s",
            message["To"],
            message["Subject"],
            text,
        )
