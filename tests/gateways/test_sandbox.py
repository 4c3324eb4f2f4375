from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing.gateways import (
    ChargeRequest,
    Gateway,
    InvalidRequest,
    InvalidToken,
    MemoryLedger,
    make_gateway,
)
from billing.gateways.boleto import is_valid_line
from billing.gateways.pix import crc_is_valid, parse_tlv
from billing.gateways.sandbox import SandboxGateway

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def gw() -> SandboxGateway:
    return SandboxGateway(MemoryLedger(), clock=lambda: NOW)


async def _customer(gw: SandboxGateway, cid: str = "cus_1") -> str:
    return await gw.ensure_customer(merchant_id="m_1", customer_id=cid, email="a@b.c", name="A")


def _req(customer: str, pm: str, key: str, amount: int = 4990) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key,
        amount=amount,
        currency="BRL",
        gateway_customer=customer,
        payment_method=pm,
        description="Plano",
    )


async def test_sandbox_satisfies_the_port(gw: SandboxGateway) -> None:
    assert isinstance(gw, Gateway)
    assert isinstance(make_gateway("sandbox"), SandboxGateway)


async def test_ensure_customer_is_idempotent(gw: SandboxGateway) -> None:
    first = await _customer(gw)
    assert first == await _customer(gw)
    assert first != await _customer(gw, "cus_2")


@pytest.mark.parametrize(
    ("token", "status", "failure_code", "decline_code", "decline_type"),
    [
        ("pm_card_visa", "succeeded", None, None, None),
        ("pm_card_mastercard", "succeeded", None, None, None),
        ("pm_card_chargeDeclined", "failed", "card_declined", "generic_decline", "soft"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "failed",
            "card_declined",
            "insufficient_funds",
            "soft",
        ),
        (
            "pm_card_chargeDeclinedProcessingError",
            "failed",
            "processing_error",
            "processing_error",
            "soft",
        ),
        ("pm_card_chargeDeclinedExpiredCard", "failed", "expired_card", "expired_card", "hard"),
        ("pm_card_chargeDeclinedLostCard", "failed", "card_declined", "lost_card", "hard"),
        ("pm_card_chargeDeclinedStolenCard", "failed", "card_declined", "stolen_card", "hard"),
        ("pm_card_chargeDeclinedFraudulent", "failed", "card_declined", "fraudulent", "hard"),
        (
            "pm_card_authenticationRequired",
            "requires_action",
            "authentication_required",
            "authentication_required",
            "authentication_required",
        ),
    ],
)
async def test_every_card_token(
    gw: SandboxGateway,
    token: str,
    status: str,
    failure_code: str | None,
    decline_code: str | None,
    decline_type: str | None,
) -> None:
    cus = await _customer(gw)
    info = await gw.attach_payment_method(gateway_customer=cus, token=token)
    assert info.type == "card" and info.last4 and len(info.last4) == 4
    result = await gw.charge(request=_req(cus, info.gateway_ref, f"k-{token}"))
    assert (result.status, result.failure_code, result.decline_code, result.decline_type) == (
        status,
        failure_code,
        decline_code,
        decline_type,
    )
    assert result.gateway_ref and result.amount == 4990 and result.currency == "BRL"
    assert (result.next_action_url is not None) == (status == "requires_action")
    if status == "failed":
        assert result.message


async def test_authentication_can_be_completed(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    pm = await gw.attach_payment_method(
        gateway_customer=cus, token="pm_card_authenticationRequired"
    )
    pending = await gw.charge(request=_req(cus, pm.gateway_ref, "k-3ds"))
    assert pending.gateway_ref
    done = await gw.confirm_authentication(pending.gateway_ref, success=True)
    assert done.status == "succeeded"
    found = await gw.find_charge(idempotency_key="k-3ds", gateway_customer=cus)
    assert found is not None and found.status == "succeeded"


async def test_insufficient_funds_times_two(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    pm = await gw.attach_payment_method(
        gateway_customer=cus, token="pm_card_insufficientFundsTimes2"
    )
    outcomes = [(await gw.charge(request=_req(cus, pm.gateway_ref, f"k{i}"))) for i in range(3)]
    assert [r.status for r in outcomes] == ["failed", "failed", "succeeded"]
    assert outcomes[0].decline_code == "insufficient_funds"
    assert outcomes[0].decline_type == "soft"
    # The counter is per attached method: a fresh attachment starts over.
    other = await gw.attach_payment_method(
        gateway_customer=cus, token="pm_card_insufficientFundsTimes2"
    )
    assert (await gw.charge(request=_req(cus, other.gateway_ref, "k9"))).status == "failed"


async def test_same_key_twice_counts_once(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    pm = await gw.attach_payment_method(
        gateway_customer=cus, token="pm_card_insufficientFundsTimes1"
    )
    first = await gw.charge(request=_req(cus, pm.gateway_ref, "same"))
    again = await gw.charge(request=_req(cus, pm.gateway_ref, "same"))
    assert first == again and first.status == "failed"
    assert await gw.ledger.incr(f"declines:{pm.gateway_ref}", 0) == 1
    assert (await gw.charge(request=_req(cus, pm.gateway_ref, "next"))).status == "succeeded"


async def test_concurrent_same_key_charges_once(gw: SandboxGateway) -> None:
    import asyncio

    cus = await _customer(gw)
    pm = await gw.attach_payment_method(
        gateway_customer=cus, token="pm_card_insufficientFundsTimes1"
    )
    results = await asyncio.gather(
        *(gw.charge(request=_req(cus, pm.gateway_ref, "race")) for _ in range(5))
    )
    assert len({r.gateway_ref for r in results}) == 1
    assert await gw.ledger.incr(f"declines:{pm.gateway_ref}", 0) == 1


async def test_same_key_other_amount_is_refused(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    await gw.charge(request=_req(cus, "pm_card_visa", "k"))
    with pytest.raises(InvalidRequest):
        await gw.charge(request=_req(cus, "pm_card_visa", "k", amount=1))


async def test_find_charge_recovers_or_says_never_seen(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    assert await gw.find_charge(idempotency_key="k", gateway_customer=cus) is None
    charged = await gw.charge(request=_req(cus, "pm_card_visa", "k"))
    assert await gw.find_charge(idempotency_key="k", gateway_customer=cus) == charged
    other = await _customer(gw, "cus_other")
    assert await gw.find_charge(idempotency_key="k", gateway_customer=other) is None


async def test_unknown_token_and_detached_method(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    with pytest.raises(InvalidToken):
        await gw.attach_payment_method(gateway_customer=cus, token="pm_card_nope")
    with pytest.raises(InvalidToken):
        await gw.attach_payment_method(gateway_customer=cus, token="pm_card_insufficientFundsTimes")
    pm = await gw.attach_payment_method(gateway_customer=cus, token="pm_card_visa")
    await gw.detach_payment_method(pm.gateway_ref)
    with pytest.raises(InvalidRequest):
        await gw.charge(request=_req(cus, pm.gateway_ref, "after-detach"))


async def test_pix_pending_then_paid(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    pm = await gw.attach_payment_method(gateway_customer=cus, token="pix")
    assert pm.type == "pix" and pm.last4 is None
    result = await gw.charge(request=_req(cus, pm.gateway_ref, "pix-1", amount=12345))
    assert result.status == "processing" and result.pix is not None
    payload = result.pix.copy_paste
    assert crc_is_valid(payload)
    fields = parse_tlv(payload)
    assert fields["54"] == "123.45" and fields["53"] == "986"
    assert parse_tlv(fields["26"])["00"] == "br.gov.bcb.pix"
    assert result.pix.qr_png.startswith(b"\x89PNG")
    assert result.pix.expires_at > NOW
    assert result.gateway_ref
    paid = await gw.simulate_payment(result.gateway_ref)
    assert paid.status == "succeeded"
    assert (await gw.find_charge(idempotency_key="pix-1", gateway_customer=cus)) == paid


async def test_boleto_pending_then_paid(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    pm = await gw.attach_payment_method(gateway_customer=cus, token="boleto")
    assert pm.type == "boleto"
    due = date(2026, 3, 20)
    result = await gw.create_boleto(_req(cus, pm.gateway_ref, "bol-1", amount=9990), due)
    assert result.status == "processing" and result.boleto is not None
    line = result.boleto.typeable_line
    assert len(line) == 47 and line.isdigit() and is_valid_line(line)
    assert result.boleto.barcode[9:19] == "0000009990" and result.boleto.due_date == due
    assert result.gateway_ref
    assert (await gw.simulate_payment(result.gateway_ref)).status == "succeeded"
    # charge() on a boleto method falls due DEFAULT_BOLETO_DAYS from the (injected) clock.
    via_charge = await gw.charge(request=_req(cus, pm.gateway_ref, "bol-2"))
    assert via_charge.boleto is not None and via_charge.boleto.due_date == date(2026, 3, 13)


async def test_simulate_payment_rejects_cards_and_pix_needs_brl(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    card = await gw.charge(request=_req(cus, "pm_card_visa", "c"))
    assert card.gateway_ref
    with pytest.raises(InvalidRequest):
        await gw.simulate_payment(card.gateway_ref)
    usd = ChargeRequest(
        idempotency_key="usd",
        amount=100,
        currency="USD",
        gateway_customer=cus,
        payment_method="pix",
    )
    with pytest.raises(InvalidRequest):
        await gw.create_pix(usd)
    # The failed attempt did not burn the key.
    fixed = ChargeRequest(
        idempotency_key="usd",
        amount=100,
        currency="BRL",
        gateway_customer=cus,
        payment_method="pix",
    )
    assert (await gw.create_pix(fixed)).status == "processing"


async def test_refunds(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    paid = await gw.charge(request=_req(cus, "pm_card_visa", "k", amount=1000))
    assert paid.gateway_ref
    part = await gw.refund(gateway_ref=paid.gateway_ref, amount=400, idempotency_key="r1")
    assert part == await gw.refund(gateway_ref=paid.gateway_ref, amount=400, idempotency_key="r1")
    with pytest.raises(InvalidRequest):
        await gw.refund(gateway_ref=paid.gateway_ref, amount=700, idempotency_key="r2")
    rest = await gw.refund(gateway_ref=paid.gateway_ref, amount=None, idempotency_key="r2")
    assert rest.status == "succeeded" and rest.gateway_ref != part.gateway_ref
    declined = await gw.charge(request=_req(cus, "pm_card_chargeDeclined", "d"))
    assert declined.gateway_ref
    with pytest.raises(InvalidRequest):
        await gw.refund(gateway_ref=declined.gateway_ref, amount=None, idempotency_key="r3")


async def test_method_change_flow(gw: SandboxGateway) -> None:
    cus = await _customer(gw)
    flow = await gw.start_method_change(gateway_customer=cus, return_url="https://x.test/back")
    assert flow.client_secret is None and flow.url is not None
    assert flow.setup_ref in flow.url and "return_url=https%3A%2F%2Fx.test%2Fback" in flow.url
    before = await gw.retrieve_method_change(flow.setup_ref)
    assert (before.status, before.gateway_customer, before.payment_method) == (
        "requires_payment_method",
        cus,
        None,
    )
    info = await gw.complete_method_change(flow.setup_ref, "pm_card_mastercard")
    assert info.brand == "mastercard"
    after = await gw.retrieve_method_change(flow.setup_ref)
    assert (after.status, after.payment_method) == ("succeeded", info.gateway_ref)
    with pytest.raises(InvalidRequest):
        await gw.retrieve_method_change("seti_unknown")
    assert (await gw.charge(request=_req(cus, info.gateway_ref, "k"))).status == "succeeded"


async def test_latency_is_injected() -> None:
    import time

    gw = SandboxGateway(latency=0.05)
    start = time.monotonic()
    await _customer(gw)
    assert time.monotonic() - start >= 0.04


def test_charge_request_rejects_float_money() -> None:
    with pytest.raises(TypeError):
        ChargeRequest(
            idempotency_key="k",
            amount=10.5,  # type: ignore[arg-type]
            currency="BRL",
            gateway_customer="c",
            payment_method="p",
        )
    with pytest.raises(ValueError):
        ChargeRequest(
            idempotency_key="k", amount=10, currency="brl", gateway_customer="c", payment_method="p"
        )
