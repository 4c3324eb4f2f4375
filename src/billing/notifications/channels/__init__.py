"""Delivery channels: SMTP e-mail and HTTP SMS/WhatsApp providers."""

from billing.notifications.channels.base import (
    Channel,
    ChannelName,
    DeliveryFailed,
    DeliveryReceipt,
    OutgoingMessage,
)
from billing.notifications.channels.email import EmailSender, OutboxSender, email_sender
from billing.notifications.channels.http_provider import HttpMessageSender

__all__ = [
    "Channel",
    "ChannelName",
    "DeliveryFailed",
    "DeliveryReceipt",
    "EmailSender",
    "HttpMessageSender",
    "OutboxSender",
    "OutgoingMessage",
    "email_sender",
]
