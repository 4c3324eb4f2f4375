"""Sandbox payment records (JSON in the ledger) and their mapping to port results."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from billing.gateways import boleto as boleto_codes
from billing.gateways.ledger import JSONObject
from billing.gateways.pix import qr_png
from billing.gateways.port import (
    BoletoDetails,
    ChargeRequest,
    ChargeResult,
    InvalidRequest,
    PixDetails,
)

BOLETO_BANK = "000"  # not a real bank: a sandbox boleto must never be payable


async def boleto_record(request: ChargeRequest, ref: str, due: date) -> JSONObject:
    if request.currency != "BRL":
        raise InvalidRequest("boleto is BRL only")
    # 25 digits derived from the ref: unique per payment, stable on replay.
    free = str(int(hashlib.sha256(ref.encode()).hexdigest(), 16))[-25:].zfill(25)
    barcode = boleto_codes.build_barcode(
        bank=BOLETO_BANK, amount=request.amount, due=due, free_field=free
    )
    return {
        "status": "processing",
        "kind": "boleto",
        "boleto": {
            "barcode": barcode,
            "typeable_line": boleto_codes.typeable_line(barcode),
            "due_date": due.isoformat(),
        },
    }


def record_to_result(record: JSONObject) -> ChargeResult:
    pix = boleto = None
    if record.get("pix"):
        data = record["pix"]
        pix = PixDetails(
            copy_paste=data["copy_paste"],
            qr_png=qr_png(data["copy_paste"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )
    if record.get("boleto"):
        data = record["boleto"]
        boleto = BoletoDetails(
            typeable_line=data["typeable_line"],
            barcode=data["barcode"],
            due_date=date.fromisoformat(data["due_date"]),
        )
    return ChargeResult(
        status=record["status"],
        gateway_ref=record["ref"],
        failure_code=record.get("failure_code"),
        decline_code=record.get("decline_code"),
        decline_type=record.get("decline_type"),
        message=record.get("message"),
        next_action_url=record.get("next_action_url"),
        pix=pix,
        boleto=boleto,
        amount=record["amount"],
        currency=record["currency"],
    )
