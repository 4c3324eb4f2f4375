"""Pix BR Code (EMV QR Code MPM, Banco Central do Brasil manual) and its QR image.

The PNG is written here from the QR matrix with zlib, so no imaging library (Pillow or
PyPNG) is needed at runtime.
"""

from __future__ import annotations

import struct
import unicodedata
import zlib

import qrcode

GUI = "br.gov.bcb.pix"


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as the BR Code manual requires."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMV field {tag} longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _ascii(text: str, limit: int) -> str:
    # Banks' apps choke on accents in merchant name/city: strip them, keep it short.
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain[:limit]


def with_crc(payload_without_crc: str) -> str:
    body = payload_without_crc + "6304"
    return body + f"{crc16_ccitt(body.encode()):04X}"


def build_pix_payload(
    *,
    amount: int,
    txid: str,
    merchant_name: str,
    merchant_city: str,
    key: str | None = None,
    location_url: str | None = None,
) -> str:
    """A BR Code for ``amount`` centavos (BRL).

    With ``location_url`` (a PSP's payload location, no scheme) it is a dynamic code;
    otherwise a static code on the Pix ``key``. Point of initiation "12": single use.
    """
    if amount <= 0:
        raise ValueError("amount must be positive")
    if location_url is None and key is None:
        raise ValueError("a Pix key or a location URL is required")
    account = _tlv("00", GUI)
    account += _tlv("25", location_url) if location_url else _tlv("01", key or "")
    # A txid is up to 25 alphanumerics; dynamic codes carry theirs in the location.
    clean_txid = "".join(c for c in txid if c.isalnum())[:25] or "***"
    payload = (
        _tlv("00", "01")
        + _tlv("01", "12")
        + _tlv("26", account)
        + _tlv("52", "0000")
        + _tlv("53", "986")
        + _tlv("54", f"{amount // 100}.{amount % 100:02d}")
        + _tlv("58", "BR")
        + _tlv("59", _ascii(merchant_name, 25))
        + _tlv("60", _ascii(merchant_city, 15))
        + _tlv("62", _tlv("05", clean_txid))
    )
    return with_crc(payload)


def parse_tlv(payload: str) -> dict[str, str]:
    """Split one EMV level into tag → value (nested templates stay as strings)."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(payload):
        tag, size = payload[i : i + 2], int(payload[i + 2 : i + 4])
        fields[tag] = payload[i + 4 : i + 4 + size]
        i += 4 + size
    return fields


def crc_is_valid(payload: str) -> bool:
    if len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return f"{crc16_ccitt(payload[:-4].encode()):04X}" == payload[-4:].upper()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(data: str, *, scale: int = 4, border: int = 4) -> bytes:
    """Encode ``data`` as a QR code (error correction M) in an 8-bit grayscale PNG."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    qr.add_data(data)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()
    rows = bytearray()
    for row in matrix:
        line = b"".join((b"\x00" if dark else b"\xff") * scale for dark in row)
        for _ in range(scale):
            rows += b"\x00" + line  # filter type 0 per scanline
    size = len(matrix) * scale
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )
