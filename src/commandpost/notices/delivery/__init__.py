"""Sending approved notices: email over SMTP, signed HTTP webhooks (chat: the chat port).

    sender = NoticeSender.from_settings(Settings(), clock=clock)   # a NoticeSenderPort
    sender.send(message, destination=..., recipient=...)           # raises DeliveryFailed

Every sender puts `message.text` on the wire unchanged: the body of the email (base64, so
no relay rewraps or re-encodes it) and the `text` of the webhook's JSON are the approved
bytes, and both carry the SHA-256 the approval was bound to.
"""

from commandpost.notices.delivery.sender import NoticeSender
from commandpost.notices.delivery.smtp import SmtpSender, build_email
from commandpost.notices.delivery.webhook import notice_body, post_notice

__all__ = ["NoticeSender", "SmtpSender", "build_email", "notice_body", "post_notice"]
