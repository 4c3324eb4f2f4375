"""SMS and WhatsApp through an HTTP provider: one JSON POST per message."""

from __future__ import annotations

from typing import Any

import httpx

from billing.notifications.channels.base import (
    ChannelName,
    DeliveryFailed,
    DeliveryReceipt,
    OutgoingMessage,
)

__all__ = ["HttpMessageSender"]


class HttpMessageSender:
    """POST ``{"to", "body", "channel", "idempotency_key"}`` with a Bearer token."""

    def __init__(
        self,
        url: str,
        token: str,
        channel: ChannelName,
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if channel == "email":
            raise ValueError("e-mail goes over SMTP (EmailSender), not an HTTP provider")
        self.url = url
        self.token = token
        self.name: ChannelName = channel
        self.timeout = timeout
        self._client = client

    async def send(self, to: str, body: str, idempotency_key: str) -> str | None:
        """Return the provider's message id when it gives one."""
        payload = {
            "to": to,
            "body": body,
            "channel": self.name,
            "idempotency_key": idempotency_key,
        }
        headers = {
            "Authorization": f"Bearer {self.token}",
            # Also as a header: providers that dedupe do it there, not in the body.
            "Idempotency-Key": idempotency_key,
        }
        try:
            if self._client is not None:
                response = await self._client.post(
                    self.url, json=payload, headers=headers, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"{self.name} provider timed out", retryable=True) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailed(
                f"{self.name} provider unreachable: {exc}", retryable=True
            ) from exc
        status = response.status_code
        if status >= 500 or status == 429:  # provider trouble or rate limit: later may work
            raise DeliveryFailed(
                f"{self.name} provider answered {status}: {response.text[:200]}",
                retryable=True,
                status=status,
            )
        if status >= 400:
            raise DeliveryFailed(
                f"{self.name} provider rejected the message ({status}): {response.text[:200]}",
                retryable=False,
                status=status,
            )
        return _message_id(response)

    async def deliver(self, message: OutgoingMessage) -> DeliveryReceipt:
        if message.channel != self.name:
            raise ValueError(f"a {message.channel} message sent through the {self.name} sender")
        provider_id = await self.send(message.to, message.text, message.idempotency_key)
        return DeliveryReceipt(channel=self.name, to=message.to, provider_message_id=provider_id)


def _message_id(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("id", "message_id", "sid"):
            if body.get(key) is not None:
                return str(body[key])
    return None
