"""SandboxGateway: the port implemented locally with Stripe's test-token semantics.

All state lives in a ``SandboxLedger`` under these keys:
  customer:{ref}  method:{ref}  setup:{ref}  payment:{ref}  refund:{key}
  charge:{idempotency key} -> {"ref"}      claim:{key} / refund-claim:{key} (counters)
  declines:{method ref} (counter for insufficientFundsTimes{N})
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from billing.gateways.ledger import JSONObject, MemoryLedger, SandboxLedger
from billing.gateways.pix import build_pix_payload
from billing.gateways.port import (
    ChargeRequest,
    ChargeResult,
    GatewayUnavailable,
    InvalidRequest,
    InvalidToken,
    MethodChangeFlow,
    MethodChangeState,
    PaymentMethodInfo,
    RefundResult,
)
from billing.gateways.sandbox_records import boleto_record, record_to_result
from billing.gateways.sandbox_tokens import EXP_MONTH, EXP_YEAR, card_spec, is_known_token
from billing.gateways.webhook import verify_event

Clock = Callable[[], datetime]

SANDBOX_PIX_KEY = "7d9f0335-8dcc-4054-9bf9-0dbd61d36906"  # fixed random EVP key
DEFAULT_BOLETO_DAYS = 3  # API.md's days_until_due default
_CLAIM_WAIT_STEPS = 200  # x 10 ms: how long a duplicate call waits for the first


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_ref(prefix: str) -> str:
    return f"{prefix}_sb_{secrets.token_hex(12)}"


class SandboxGateway:
    def __init__(
        self,
        ledger: SandboxLedger | None = None,
        *,
        latency: float = 0.0,
        clock: Clock | None = None,
        method_change_url: str = "/portal/sandbox/method_change/{setup_ref}",
        pix_ttl: timedelta = timedelta(days=1),
        merchant_name: str = "Billing Sandbox",
        merchant_city: str = "Sao Paulo",
    ) -> None:
        self.ledger: SandboxLedger = ledger if ledger is not None else MemoryLedger()
        self.latency = latency
        self._clock = clock or _utcnow
        self._method_change_url = method_change_url
        self._pix_ttl = pix_ttl
        self._merchant_name = merchant_name
        self._merchant_city = merchant_city

    async def _pause(self) -> None:
        # Injected latency makes benchmarks see a gateway round trip.
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    # -- customers and methods ------------------------------------------------------

    async def ensure_customer(
        self, *, merchant_id: str, customer_id: str, email: str, name: str
    ) -> str:
        await self._pause()
        # Derived from our ids, so the same customer always maps to the same ref.
        digest = hashlib.sha256(f"{merchant_id}\x00{customer_id}".encode()).hexdigest()
        ref = f"cus_sb_{digest[:24]}"
        record = {
            "merchant_id": merchant_id,
            "customer_id": customer_id,
            "email": email,
            "name": name,
        }
        await self.ledger.put(f"customer:{ref}", record)
        return ref

    async def _require_customer(self, ref: str) -> JSONObject:
        record = await self.ledger.get(f"customer:{ref}")
        if record is None:
            raise InvalidRequest(f"no such customer: {ref}")
        return record

    async def attach_payment_method(
        self, *, gateway_customer: str, token: str
    ) -> PaymentMethodInfo:
        await self._pause()
        await self._require_customer(gateway_customer)
        if not is_known_token(token):
            raise InvalidToken(f"unknown sandbox token: {token!r}")
        ref = _new_ref("pm")
        await self.ledger.put(
            f"method:{ref}", {"token": token, "customer": gateway_customer, "detached": False}
        )
        return self._method_info(ref, token)

    @staticmethod
    def _method_info(ref: str, token: str) -> PaymentMethodInfo:
        if token == "pix":
            return PaymentMethodInfo(gateway_ref=ref, type="pix")
        if token == "boleto":
            return PaymentMethodInfo(gateway_ref=ref, type="boleto")
        spec = card_spec(token)
        assert spec is not None  # validated at attach
        return PaymentMethodInfo(
            gateway_ref=ref,
            type="card",
            brand=spec.brand,
            last4=spec.last4,
            exp_month=EXP_MONTH,
            exp_year=EXP_YEAR,
        )

    async def detach_payment_method(self, gateway_ref: str) -> None:
        await self._pause()
        record = await self.ledger.get(f"method:{gateway_ref}")
        if record is None:
            raise InvalidRequest(f"no such payment method: {gateway_ref}")
        record["detached"] = True
        await self.ledger.put(f"method:{gateway_ref}", record)

    async def start_method_change(
        self,
        *,
        gateway_customer: str,
        return_url: str,
        merchant_id: str | None = None,
        customer_id: str | None = None,
    ) -> MethodChangeFlow:
        await self._pause()
        await self._require_customer(gateway_customer)
        setup_ref = _new_ref("seti")
        await self.ledger.put(
            f"setup:{setup_ref}",
            {
                "customer": gateway_customer,
                "return_url": return_url,
                "merchant_id": merchant_id,
                "customer_id": customer_id,
            },
        )
        url = self._method_change_url.format(setup_ref=setup_ref)
        url += ("&" if "?" in url else "?") + "return_url=" + quote(return_url, safe="")
        return MethodChangeFlow(setup_ref=setup_ref, url=url)

    async def complete_method_change(self, setup_ref: str, token: str) -> PaymentMethodInfo:
        """What the portal's sandbox page calls when the payer picks a test token."""
        setup = await self.ledger.get(f"setup:{setup_ref}")
        if setup is None:
            raise InvalidRequest(f"no such setup: {setup_ref}")
        info = await self.attach_payment_method(gateway_customer=setup["customer"], token=token)
        await self.ledger.put(f"setup:{setup_ref}", {**setup, "payment_method": info.gateway_ref})
        return info

    async def retrieve_method_change(self, setup_ref: str) -> MethodChangeState:
        await self._pause()
        setup = await self.ledger.get(f"setup:{setup_ref}")
        if setup is None:
            raise InvalidRequest(f"no such setup: {setup_ref}")
        method = setup.get("payment_method")
        return MethodChangeState(
            setup_ref=setup_ref,
            gateway_customer=setup["customer"],
            status="succeeded" if method else "requires_payment_method",
            payment_method=method,
        )

    # -- charges --------------------------------------------------------------------

    async def _resolve_method(self, payment_method: str, customer: str) -> tuple[str, str]:
        """(token, counter key) for a method ref; raw test tokens are accepted like Stripe."""
        record = await self.ledger.get(f"method:{payment_method}")
        if record is not None:
            if record["detached"] or record["customer"] != customer:
                raise InvalidRequest("payment method is not attached to this customer")
            return record["token"], payment_method
        if is_known_token(payment_method):
            return payment_method, f"{customer}:{payment_method}"
        raise InvalidToken(f"unknown payment method: {payment_method!r}")

    @staticmethod
    def _fingerprint(request: ChargeRequest) -> list[Any]:
        return [request.amount, request.currency, request.gateway_customer, request.payment_method]

    async def _once(
        self, request: ChargeRequest, kind: str, make: Callable[[str], Awaitable[JSONObject]]
    ) -> ChargeResult:
        """Run ``make`` at most once per idempotency key; replays return the current state."""
        key = request.idempotency_key
        fingerprint = self._fingerprint(request)
        if await self.ledger.incr(f"claim:{key}") > 1:
            return await self._replay(key, fingerprint)
        ref = _new_ref("py")
        try:
            record = await make(ref)
        except Exception:
            # Nothing was recorded: free the key so a corrected call can run.
            await self.ledger.incr(f"claim:{key}", -1)
            raise
        record.update(
            ref=ref,
            key=key,
            kind=kind,
            customer=request.gateway_customer,
            amount=request.amount,
            currency=request.currency,
            refunded=0,
            fingerprint=fingerprint,
            metadata=dict(request.metadata),
        )
        await self.ledger.put(f"payment:{ref}", record)
        await self.ledger.put(f"charge:{key}", {"ref": ref})
        return record_to_result(record)

    async def _replay_if_seen(self, request: ChargeRequest) -> ChargeResult | None:
        # Checked before validating the method: a replay must answer even if the method
        # was detached since (Stripe replays the stored response).
        if await self.ledger.get(f"charge:{request.idempotency_key}") is None:
            return None
        return await self._replay(request.idempotency_key, self._fingerprint(request))

    async def _replay(self, key: str, fingerprint: list[Any]) -> ChargeResult:
        for _ in range(_CLAIM_WAIT_STEPS):
            pointer = await self.ledger.get(f"charge:{key}")
            if pointer is not None:
                record = await self.ledger.get(f"payment:{pointer['ref']}")
                assert record is not None
                if record["fingerprint"] != fingerprint:
                    # Stripe answers 400 to a reused key with other parameters.
                    raise InvalidRequest("idempotency key reused with different parameters")
                return record_to_result(record)
            await asyncio.sleep(0.01)
        # The first call never finished (crashed or stuck): outcome unknown, like a 409.
        raise GatewayUnavailable(f"charge with key {key!r} is still in progress")

    async def charge(self, *, request: ChargeRequest) -> ChargeResult:
        await self._pause()
        replay = await self._replay_if_seen(request)
        if replay is not None:
            return replay
        await self._require_customer(request.gateway_customer)
        token, counter_key = await self._resolve_method(
            request.payment_method, request.gateway_customer
        )
        if token == "pix":
            return await self._once(request, "pix", lambda ref: self._pix_record(request, ref))
        if token == "boleto":
            due = self._clock().date() + timedelta(days=DEFAULT_BOLETO_DAYS)
            return await self._once(request, "boleto", lambda ref: boleto_record(request, ref, due))

        async def card(ref: str) -> JSONObject:
            spec = card_spec(token)
            assert spec is not None
            declined = spec.failure_code is not None
            if spec.decline_times is not None:
                count = await self.ledger.incr(f"declines:{counter_key}")
                declined = count <= spec.decline_times
            if not declined:
                return {"status": "succeeded"}
            status = (
                "requires_action" if spec.decline_type == "authentication_required" else ("failed")
            )
            return {
                "status": status,
                "failure_code": spec.failure_code,
                "decline_code": spec.decline_code,
                "decline_type": spec.decline_type,
                "message": spec.message,
                "next_action_url": f"/portal/sandbox/authenticate/{ref}"
                if status == "requires_action"
                else None,
            }

        return await self._once(request, "card", card)

    async def confirm_authentication(self, gateway_ref: str, *, success: bool) -> ChargeResult:
        """The payer finished (or failed) the sandbox 3-D Secure step."""
        record = await self._payment(gateway_ref)
        if record["status"] != "requires_action":
            raise InvalidRequest("payment does not require action")
        if success:
            record.update(
                status="succeeded",
                failure_code=None,
                decline_code=None,
                decline_type=None,
                message=None,
                next_action_url=None,
            )
        else:
            record.update(
                status="failed",
                failure_code="payment_intent_authentication_failure",
                next_action_url=None,
            )
        await self.ledger.put(f"payment:{gateway_ref}", record)
        return record_to_result(record)

    async def cancel_charge(self, *, gateway_ref: str) -> ChargeResult:
        await self._pause()
        record = await self._payment(gateway_ref)
        # A 3-D Secure step not taken, or a Pix code not paid: both can still be closed (a
        # boleto cannot: it may already be paid at a bank, clearing).
        pending_pix = record.get("kind") == "pix" and record["status"] == "processing"
        if record["status"] == "requires_action" or pending_pix:
            record.update(
                status="failed",
                failure_code="canceled",
                decline_code=None,
                decline_type=None,
                message="Canceled before the payer completed it.",
                next_action_url=None,
            )
            await self.ledger.put(f"payment:{gateway_ref}", record)
        return record_to_result(record)

    async def find_charge(
        self, *, idempotency_key: str, gateway_customer: str
    ) -> ChargeResult | None:
        await self._pause()
        pointer = await self.ledger.get(f"charge:{idempotency_key}")
        if pointer is None:
            return None
        record = await self._payment(pointer["ref"])
        return record_to_result(record) if record["customer"] == gateway_customer else None

    async def _payment(self, ref: str) -> JSONObject:
        record = await self.ledger.get(f"payment:{ref}")
        if record is None:
            raise InvalidRequest(f"no such payment: {ref}")
        return record

    # -- Pix and boleto -------------------------------------------------------------

    async def _pix_record(self, request: ChargeRequest, ref: str) -> JSONObject:
        if request.currency != "BRL":
            raise InvalidRequest("Pix is BRL only")
        payload = build_pix_payload(
            amount=request.amount,
            txid=ref.removeprefix("py_sb_"),
            key=SANDBOX_PIX_KEY,
            merchant_name=self._merchant_name,
            merchant_city=self._merchant_city,
        )
        expires = self._clock() + self._pix_ttl
        return {
            "status": "processing",
            "kind": "pix",
            "pix": {"copy_paste": payload, "expires_at": expires.isoformat()},
        }

    async def create_pix(self, request: ChargeRequest) -> ChargeResult:
        await self._pause()
        await self._require_customer(request.gateway_customer)
        return await self._once(request, "pix", lambda ref: self._pix_record(request, ref))

    async def create_boleto(self, request: ChargeRequest, due_date: date) -> ChargeResult:
        await self._pause()
        await self._require_customer(request.gateway_customer)
        return await self._once(
            request, "boleto", lambda ref: boleto_record(request, ref, due_date)
        )

    async def simulate_payment(self, gateway_ref: str) -> ChargeResult:
        """Mark a pending Pix or boleto paid (the sandbox's stand-in for the payer's bank)."""
        await self._pause()
        record = await self._payment(gateway_ref)
        if record["kind"] not in ("pix", "boleto"):
            raise InvalidRequest("only Pix and boleto payments can be simulated")
        if record["status"] == "processing":
            record["status"] = "succeeded"
            record["paid_at"] = self._clock().isoformat()
            await self.ledger.put(f"payment:{gateway_ref}", record)
        elif record["status"] != "succeeded":
            raise InvalidRequest(f"payment is {record['status']}")
        return record_to_result(record)

    # -- refunds and webhooks -------------------------------------------------------

    async def refund(
        self, *, gateway_ref: str, amount: int | None, idempotency_key: str
    ) -> RefundResult:
        await self._pause()
        if await self.ledger.incr(f"refund-claim:{idempotency_key}") > 1:
            for _ in range(_CLAIM_WAIT_STEPS):
                done = await self.ledger.get(f"refund:{idempotency_key}")
                if done is not None:
                    return RefundResult(status="succeeded", gateway_ref=done["ref"])
                await asyncio.sleep(0.01)
            raise GatewayUnavailable("refund still in progress")
        record = await self._payment(gateway_ref)
        try:
            if record["status"] != "succeeded":
                raise InvalidRequest("only a succeeded payment can be refunded")
            remaining = record["amount"] - record["refunded"]
            value = remaining if amount is None else amount
            if value <= 0 or value > remaining:
                raise InvalidRequest(f"refund amount must be between 1 and {remaining}")
        except InvalidRequest:
            # Let the caller fix the request and retry under the same key.
            await self.ledger.incr(f"refund-claim:{idempotency_key}", -1)
            raise
        record["refunded"] += value
        await self.ledger.put(f"payment:{gateway_ref}", record)
        ref = _new_ref("re")
        await self.ledger.put(
            f"refund:{idempotency_key}", {"ref": ref, "payment": gateway_ref, "amount": value}
        )
        return RefundResult(status="succeeded", gateway_ref=ref)

    async def verify_webhook(
        self, *, payload: bytes, headers: Mapping[str, str], secret: str, now: datetime
    ) -> dict[str, Any]:
        return verify_event(payload=payload, headers=headers, secret=secret, now=now)

    async def aclose(self) -> None:
        return None
