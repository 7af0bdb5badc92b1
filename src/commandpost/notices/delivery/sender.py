"""The notice sender the runtime wires: email and webhook destinations, one interface."""

from __future__ import annotations

import ssl

import httpx

from commandpost.core.policy import EmailNoticeDestination, WebhookNoticeDestination
from commandpost.notices.delivery.smtp import SmtpSender
from commandpost.notices.delivery.webhook import post_notice
from commandpost.service.ports import Clock, NoticeMessage
from commandpost.settings import Settings


class NoticeSender:
    """A NoticeSenderPort over SMTP and signed HTTP; `transport` swaps HTTP out in tests."""

    def __init__(
        self,
        *,
        smtp: SmtpSender,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.smtp = smtp
        self.clock = clock
        self.transport = transport

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock, ssl_context: ssl.SSLContext | None = None
    ) -> NoticeSender:
        return cls(smtp=SmtpSender.from_settings(settings, ssl_context=ssl_context), clock=clock)

    def send(
        self,
        message: NoticeMessage,
        *,
        destination: EmailNoticeDestination | WebhookNoticeDestination,
        recipient: str,
    ) -> str:
        if isinstance(destination, EmailNoticeDestination):
            return self.smtp.send(message, recipient=recipient)
        return post_notice(
            message, destination=destination, now=self.clock.now(), transport=self.transport
        )
