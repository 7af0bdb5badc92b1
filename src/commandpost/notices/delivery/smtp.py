"""Email over SMTP: STARTTLS before anything else, credentials from settings, never in logs."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import SecretStr

from commandpost.errors import DeliveryFailed
from commandpost.service.ports import NoticeMessage
from commandpost.settings import Settings

NOTICE_HEADER = "X-CommandPost-Notice"
SHA256_HEADER = "X-CommandPost-Notice-SHA256"


def build_email(message: NoticeMessage, *, sender: str, recipient: str) -> EmailMessage:
    """One plain-text email whose body decodes to exactly `message.text`.

    The body is given as bytes in base64: as text, the email library would rewrite line
    endings and add a final newline, and the reader would get bytes nobody approved.
    """
    email = EmailMessage()
    email["Subject"] = message.subject or f"Incident {message.incident_id}"
    email["From"] = sender
    email["To"] = recipient
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    email[NOTICE_HEADER] = f"{message.notice_id}; incident={message.incident_id}"
    email[SHA256_HEADER] = message.sha256
    email.set_content(
        message.text.encode("utf-8"),
        maintype="text",
        subtype="plain",
        cte="base64",
        params={"charset": "utf-8"},
    )
    return email


class SmtpSender:
    """Sends one email per recipient, over a fresh connection each time (deliveries are rare
    and retried one by one; a pooled connection would only add states to get wrong)."""

    def __init__(
        self,
        *,
        host: str | None,
        port: int = 587,
        user: str | None = None,
        password: SecretStr | None = None,
        sender: str = "commandpost@localhost",
        starttls: bool = True,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.sender = sender
        self.starttls = starttls
        self.timeout = timeout
        self._ssl_context = ssl_context

    @classmethod
    def from_settings(
        cls, settings: Settings, *, ssl_context: ssl.SSLContext | None = None
    ) -> SmtpSender:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            ssl_context=ssl_context,
        )

    def send(self, message: NoticeMessage, *, recipient: str) -> str:
        if not self.host:
            raise DeliveryFailed("email is not configured: set COMMANDPOST_SMTP_HOST")
        if self.user and not self.starttls:
            # Credentials in clear text over the network would be a leak of their own.
            raise DeliveryFailed("refusing to send SMTP credentials without STARTTLS")
        email = build_email(message, sender=self.sender, recipient=recipient)
        where = f"SMTP {self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
                client.ehlo()
                if self.starttls:
                    client.starttls(context=self._ssl_context or ssl.create_default_context())
                    client.ehlo()
                if self.user:
                    password = self._password.get_secret_value() if self._password else ""
                    client.login(self.user, password)
                refused = client.send_message(email, from_addr=self.sender, to_addrs=[recipient])
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"{where} answered {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(sorted({str(code) for code, _ in exc.recipients.values()}))
            raise DeliveryFailed(f"{where} refused the recipient ({codes})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{where} failed: {type(exc).__name__}") from None
        if refused:
            raise DeliveryFailed(f"{where} refused the recipient")
        return f"{where} accepted"
