"""What every delivery channel accepts and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Channel", "ChannelName", "DeliveryFailed", "DeliveryReceipt", "OutgoingMessage"]

ChannelName = Literal["email", "sms", "whatsapp"]


@dataclass(frozen=True, kw_only=True)
class OutgoingMessage:
    """One message to one recipient; ``idempotency_key`` is built from our ids."""

    channel: ChannelName
    to: str
    text: str
    idempotency_key: str
    subject: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReceipt:
    channel: ChannelName
    to: str
    provider_message_id: str | None


class DeliveryFailed(Exception):
    """The provider did not take the message.

    ``retryable`` tells the ruler whether trying again later can help (timeouts,
    5xx, SMTP 4xx) or not (bad address, bad credentials, rejected content).
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@runtime_checkable
class Channel(Protocol):
    name: ChannelName

    async def deliver(self, message: OutgoingMessage) -> DeliveryReceipt: ...
