from __future__ import annotations

import struct
import zlib
from datetime import date

import pytest

from billing.gateways import boleto
from billing.gateways.pix import build_pix_payload, crc16_ccitt, crc_is_valid, parse_tlv, qr_png

# The example of the BCB BR Code manual (static code, key only, no amount).
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def test_crc16_ccitt_false_check_value() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1  # the catalogued check value


def test_crc_of_known_br_code() -> None:
    assert crc_is_valid(BCB_EXAMPLE)
    assert not crc_is_valid(BCB_EXAMPLE.replace("Fulano", "Fulana"))


def test_built_payload_fields() -> None:
    payload = build_pix_payload(
        amount=100005,
        txid="py_sb_ab-12",
        key="k@x.com",
        merchant_name="Padaria São João Ltda e Filhos",
        merchant_city="São Paulo",
    )
    assert crc_is_valid(payload)
    f = parse_tlv(payload)
    assert f["00"] == "01" and f["54"] == "1000.05" and f["58"] == "BR"
    assert f["59"] == "Padaria Sao Joao Ltda e F"  # ASCII, 25 max
    assert parse_tlv(f["62"])["05"] == "pysbab12"
    assert parse_tlv(f["26"]) == {"00": "br.gov.bcb.pix", "01": "k@x.com"}


def _decode_png(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        (crc,) = struct.unpack(">I", data[pos + 8 + size : pos + 12 + size])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + size
    return width, height, zlib.decompress(idat)


def test_qr_png_round_trips_the_matrix() -> None:
    import qrcode

    text = "00020101021226"
    png = qr_png(text, scale=2, border=4)
    width, height, raw = _decode_png(png)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    assert width == height == len(matrix) * 2
    row_len = width + 1
    for y, row in enumerate(matrix):
        line = raw[(2 * y) * row_len : (2 * y + 1) * row_len]
        assert line[0] == 0
        assert [line[1 + 2 * x] == 0 for x in range(len(row))] == row


@pytest.mark.parametrize(
    "line",
    [
        "23793.38128 60007.827136 95000.063305 9 75520000370000",
        boleto.typeable_line("00193373700000001000500940144816060680935031"),
    ],
)
def test_known_boletos_validate(line: str) -> None:
    assert boleto.is_valid_line(line)


def test_boleto_check_digits_recomputed() -> None:
    code = boleto.build_barcode(
        bank="000", amount=123456, due=date(2026, 5, 4), free_field="1234567890123456789012345"
    )
    line = boleto.typeable_line(code)
    assert len(code) == 44 and len(line) == 47
    assert boleto.barcode_from_line(line) == code
    assert boleto.mod10(line[0:9]) == int(line[9])
    assert boleto.mod10(line[10:20]) == int(line[20])
    assert boleto.mod10(line[21:31]) == int(line[31])
    assert boleto.mod11(code[:4] + code[5:]) == int(code[4]) == int(line[32])
    # Any single-digit change inside the three fields is caught by their mod-10 DVs.
    # (Not asserted for the value part: mod 11 folds 0/10/11 into 1, so it cannot.)
    for i in [*range(0, 10), *range(10, 21), *range(21, 32)]:
        bad = line[:i] + str((int(line[i]) + 1) % 10) + line[i + 1 :]
        assert not boleto.is_valid_line(bad), i


def test_due_factor_rollover() -> None:
    assert boleto.due_factor(date(2000, 7, 3)) == 1000
    assert boleto.due_factor(date(2025, 2, 21)) == 9999
    assert boleto.due_factor(date(2025, 2, 22)) == 1000


def test_mod11_maps_0_10_11_to_1() -> None:
    digits = next(
        f"{n:043d}"
        for n in range(1000)
        if 11 - sum(int(c) * (2 + i % 8) for i, c in enumerate(reversed(f"{n:043d}"))) % 11
        in (10, 11)
    )
    assert boleto.mod11(digits) == 1
