"""Hashing of high-entropy tokens and encryption of stored credentials (invariant 7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets

from cryptography.fernet import Fernet, InvalidToken


def token(prefix: str, nbytes: int = 24) -> str:
    return f"{prefix}{_secrets.token_urlsafe(nbytes)}"


def hash_token(raw: str) -> str:
    """SHA-256 suffices: the tokens we hash are random with >= 192 bits, so no salt/KDF needed."""
    return hashlib.sha256(raw.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SecretBox:
    """Symmetric encryption of stored secrets with a key derived from BILLING_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"billing-secret-box:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "stored secret cannot be decrypted with this BILLING_SECRET_KEY"
            ) from exc
