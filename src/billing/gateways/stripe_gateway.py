"""StripeGateway: the port on the official ``stripe`` SDK (async methods only).

Recovery (invariant 3) does not rely on Stripe's Idempotency-Key alone: every
PaymentIntent carries our attempt key in ``metadata["billing_attempt_key"]`` and
``find_charge`` lists the customer's PaymentIntents to find it. Real Stripe also dedups
writes by the Idempotency-Key (kept 24 h), which makes a retried create return the first
PaymentIntent; emulators such as localstripe do not, and the metadata search covers both.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import stripe

from billing.gateways.declines import classify_decline
from billing.gateways.port import (
    ChargeRequest,
    ChargeResult,
    GatewayError,
    GatewayUnavailable,
    InvalidRequest,
    InvalidToken,
    MethodChangeFlow,
    MethodChangeState,
    PaymentMethodDeclined,
    PaymentMethodInfo,
    RefundResult,
)
from billing.gateways.ratelimit import TokenBucket, bucket_for_account
from billing.gateways.stripe_mapping import (
    ATTEMPT_KEY,
    CUSTOMER_KEY,
    MERCHANT_KEY,
    best_intent,
    charge_result,
    decline_result,
    object_id,
    payment_method_info,
    refund_result,
)
from billing.gateways.webhook import verify_event

T = TypeVar("T")
# Optional on our side: dropped or renamed when an emulator does not know them.
_OPTIONAL_PARAMS = frozenset({"description", "allowed_payment_method_types", "customer"})
_MAX_LIST_PAGES = 10  # 1,000 most recent intents per customer: far more than any retry window


class StripeGateway:
    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        rate_per_second: float = 25,
        *,
        limiter: TokenBucket | None = None,
        max_rate_limit_retries: int = 4,
        backoff_seconds: float = 0.5,
        timeout: float = 30.0,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout)
        # SDK-level retries off: retries are ours, bounded, and always reuse our key.
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=0,
        )
        self.limiter = limiter or bucket_for_account(secret_key, rate_per_second)
        self._max_retries = max_rate_limit_retries
        self._backoff = backoff_seconds
        # Parameters an emulator (localstripe) rejects with "Unexpected <param>", learnt
        # at the first 400 (which created nothing) so the request can be sent again.
        self._unsupported: set[str] = set()

    # -- transport ------------------------------------------------------------------

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Rate-limit, retry 429s with backoff (same request, same key), map errors."""
        for attempt in range(self._max_retries + 1):
            await self.limiter.acquire()
            try:
                return await fn()
            except stripe.RateLimitError as exc:
                # A 429 is answered before any work is done, so repeating it is safe.
                if attempt == self._max_retries:
                    raise GatewayUnavailable("Stripe rate limit: retries exhausted") from exc
                await asyncio.sleep(self._delay(attempt, exc))
            except stripe.CardError:
                raise  # a decline: the caller turns it into a result
            except (stripe.APIConnectionError, stripe.APIError) as exc:
                raise GatewayUnavailable(str(exc)) from exc
            except stripe.IdempotencyError as exc:
                raise InvalidRequest(str(exc)) from exc
            except stripe.InvalidRequestError as exc:
                if (exc.http_status or 0) >= 500:
                    raise GatewayUnavailable(str(exc)) from exc
                raise
            except stripe.StripeError as exc:
                if (exc.http_status or 0) >= 500:
                    raise GatewayUnavailable(str(exc)) from exc
                raise GatewayError(str(exc)) from exc
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, exc: stripe.StripeError) -> float:
        retry_after = (exc.headers or {}).get("Retry-After") or ""
        base = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 0.0
        # Exponential with jitter so many workers do not retry in lockstep.
        return max(base, self._backoff * (2**attempt) * (0.5 + random.random() / 2))

    def _learn_unsupported(self, exc: stripe.InvalidRequestError, params: dict[str, Any]) -> bool:
        """Record params the server called unexpected; True if the request can be retried."""
        message = exc.user_message or ""
        if not message.startswith("Unexpected "):
            return False
        names = {n.strip() for n in message.removeprefix("Unexpected ").split(",")}
        known = names & _OPTIONAL_PARAMS & params.keys()
        if not known or known != names:
            return False
        self._unsupported |= known
        return True

    def _adapt(self, params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        if "allowed_payment_method_types" in self._unsupported and (
            "allowed_payment_method_types" in out
        ):
            # API versions before 2026 (and localstripe) call it payment_method_types.
            out["payment_method_types"] = out.pop("allowed_payment_method_types")
        for name in self._unsupported & {"description", "customer"}:
            out.pop(name, None)
        return out

    # -- customers and methods ------------------------------------------------------

    async def ensure_customer(
        self, *, merchant_id: str, customer_id: str, email: str, name: str
    ) -> str:
        # Idempotency keys expire after 24 h, so look for the customer first.
        found = await self._call(
            lambda: self._client.v1.customers.list_async(params={"email": email, "limit": 100})
        )
        for cus in found.data:
            meta = cus.to_dict().get("metadata") or {}
            if meta.get(CUSTOMER_KEY) == customer_id and meta.get(MERCHANT_KEY) == merchant_id:
                return str(cus.id)
        created = await self._call(
            lambda: self._client.v1.customers.create_async(
                params={
                    "email": email,
                    "name": name,
                    "metadata": {MERCHANT_KEY: merchant_id, CUSTOMER_KEY: customer_id},
                },
                options={"idempotency_key": f"billing-customer-{merchant_id}-{customer_id}"},
            )
        )
        return str(created.id)

    async def attach_payment_method(
        self, *, gateway_customer: str, token: str
    ) -> PaymentMethodInfo:
        try:
            pm = await self._call(
                lambda: self._client.v1.payment_methods.attach_async(
                    token, params={"customer": gateway_customer}
                )
            )
        except stripe.CardError as exc:
            decline_code = getattr(exc.error, "decline_code", None)
            raise PaymentMethodDeclined(
                code=exc.code,
                decline_code=decline_code,
                decline_type=classify_decline(decline_code, exc.code),
                message=exc.user_message,
            ) from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or exc.code == "resource_missing":
                raise InvalidToken(f"unknown payment method: {token!r}") from exc
            # A SetupIntent confirmed by Stripe.js attaches the method itself; should Stripe
            # refuse attaching it again, the method already being this customer's is success.
            try:
                pm = await self._call(lambda: self._client.v1.payment_methods.retrieve_async(token))
            except stripe.InvalidRequestError:
                raise InvalidRequest(str(exc)) from exc
            if pm.customer != gateway_customer:
                raise InvalidRequest(str(exc)) from exc
        return payment_method_info(pm.to_dict())

    async def detach_payment_method(self, gateway_ref: str) -> None:
        try:
            await self._call(lambda: self._client.v1.payment_methods.detach_async(gateway_ref))
        except stripe.InvalidRequestError as exc:
            raise InvalidRequest(str(exc)) from exc

    async def start_method_change(
        self,
        *,
        gateway_customer: str,
        return_url: str,
        merchant_id: str | None = None,
        customer_id: str | None = None,
    ) -> MethodChangeFlow:
        # The return URL is used by Stripe.js on confirmSetup; kept in metadata for audit.
        metadata = {"billing_return_url": return_url}
        if merchant_id and customer_id:
            # setup_intent.succeeded saves the card from these when the payer's browser
            # never came back to post the completion.
            metadata |= {MERCHANT_KEY: merchant_id, CUSTOMER_KEY: customer_id}
        params: dict[str, Any] = {
            "customer": gateway_customer,
            "usage": "off_session",
            "allowed_payment_method_types": ["card"],
            "metadata": metadata,
        }
        while True:
            adapted = self._adapt(params)
            adapted.setdefault("customer", gateway_customer)  # never optional here
            try:
                si = await self._call(
                    lambda p=adapted: self._client.v1.setup_intents.create_async(  # type: ignore[misc]
                        params=p  # built dynamically
                    )
                )
                break
            except stripe.InvalidRequestError as exc:
                if not self._learn_unsupported(exc, adapted):
                    raise InvalidRequest(str(exc)) from exc
        return MethodChangeFlow(setup_ref=str(si.id), client_secret=si.client_secret)

    async def retrieve_method_change(self, setup_ref: str) -> MethodChangeState:
        if not setup_ref.startswith("seti_"):
            raise InvalidRequest(f"not a SetupIntent id: {setup_ref!r}")
        try:
            si = await self._call(lambda: self._client.v1.setup_intents.retrieve_async(setup_ref))
        except stripe.InvalidRequestError as exc:
            raise InvalidRequest(str(exc)) from exc
        data = si.to_dict()
        return MethodChangeState(
            setup_ref=str(si.id),
            gateway_customer=object_id(data.get("customer")),
            status=str(data.get("status")),
            payment_method=object_id(data.get("payment_method")),
            client_secret=data.get("client_secret"),
        )

    # -- charges --------------------------------------------------------------------

    async def _create_intent(
        self, request: ChargeRequest, extra: dict[str, Any], *, due_date: date | None = None
    ) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "customer": request.gateway_customer,
            "confirm": True,
            "metadata": {**request.metadata, ATTEMPT_KEY: request.idempotency_key},
            **extra,
        }
        if request.description:
            params["description"] = request.description
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        while True:
            adapted = self._adapt(params)
            adapted["customer"] = request.gateway_customer  # never optional here
            try:
                pi = await self._call(
                    lambda p=adapted: self._client.v1.payment_intents.create_async(  # type: ignore[misc]
                        params=p,  # built dynamically
                        options=options,
                    )
                )
                return charge_result(pi.to_dict(), due_date=due_date)
            except stripe.CardError as exc:
                return await self._declined(request, exc)
            except stripe.InvalidRequestError as exc:
                if self._learn_unsupported(exc, adapted):
                    continue
                if exc.code == "resource_missing":
                    raise InvalidToken(str(exc)) from exc
                raise InvalidRequest(str(exc)) from exc

    async def _declined(self, request: ChargeRequest, exc: stripe.CardError) -> ChargeResult:
        error = exc.error.to_dict() if exc.error is not None else {}
        intent = error.get("payment_intent") or {}
        ref = intent.get("id") if isinstance(intent, dict) else None
        if ref is None:
            # The error did not name the intent (emulators): find it by our key.
            found = await self._find_intent(request.idempotency_key, request.gateway_customer)
            ref = found.get("id") if found else None
        return decline_result(
            code=exc.code,
            decline_code=error.get("decline_code"),
            message=exc.user_message,
            gateway_ref=ref,
            amount=request.amount,
            currency=request.currency,
        )

    async def charge(self, *, request: ChargeRequest) -> ChargeResult:
        return await self._create_intent(
            request,
            {
                "payment_method": request.payment_method,
                "off_session": True,
                "allowed_payment_method_types": ["card"],
            },
        )

    async def create_pix(self, request: ChargeRequest) -> ChargeResult:
        method: dict[str, Any] = (
            {"payment_method": request.payment_method}
            if request.payment_method.startswith("pm_")
            else {"payment_method_data": {"type": "pix"}}
        )
        return await self._create_intent(
            request, {"allowed_payment_method_types": ["pix"], **method}
        )

    async def create_boleto(self, request: ChargeRequest, due_date: date) -> ChargeResult:
        if not request.payment_method.startswith("pm_"):
            # Stripe needs the payer's CPF/CNPJ and address, collected with Stripe.js.
            raise InvalidRequest("boleto needs an attached boleto payment method (pm_...)")
        days = max(0, (due_date - datetime.now().date()).days)
        return await self._create_intent(
            request,
            {
                "payment_method": request.payment_method,
                "allowed_payment_method_types": ["boleto"],
                "payment_method_options": {"boleto": {"expires_after_days": days}},
            },
            due_date=due_date,
        )

    async def cancel_charge(self, *, gateway_ref: str) -> ChargeResult:
        try:
            intent = await self._call(
                lambda: self._client.v1.payment_intents.cancel_async(gateway_ref)
            )
        except stripe.InvalidRequestError:
            # Not cancelable any more (it succeeded, or was already canceled): say which.
            intent = await self._call(
                lambda: self._client.v1.payment_intents.retrieve_async(gateway_ref)
            )
        return charge_result(intent.to_dict())

    async def find_charge(
        self, *, idempotency_key: str, gateway_customer: str
    ) -> ChargeResult | None:
        found = await self._find_intent(idempotency_key, gateway_customer)
        return charge_result(found) if found else None

    async def _find_intent(self, key: str, customer: str) -> dict[str, Any] | None:
        matches: list[dict[str, Any]] = []
        starting_after: str | None = None
        for _ in range(_MAX_LIST_PAGES):
            page = await self._list_intents(customer, starting_after)
            items = [pi.to_dict() for pi in page.data]
            for pi in items:
                meta = pi.get("metadata") or {}
                if meta.get(ATTEMPT_KEY) == key and pi.get("customer") == customer:
                    matches.append(pi)
            if not page.has_more or not items:
                break
            starting_after = items[-1]["id"]
        return best_intent(matches)

    async def _list_intents(
        self, customer: str, starting_after: str | None
    ) -> stripe.ListObject[stripe.PaymentIntent]:
        params: dict[str, Any] = {"limit": 100, "customer": customer}
        if starting_after:
            params["starting_after"] = starting_after
        while True:
            # Without the customer filter (localstripe) the caller filters client-side.
            adapted = self._adapt(params)
            try:
                return await self._call(
                    lambda p=adapted: self._client.v1.payment_intents.list_async(  # type: ignore[misc]
                        params=p  # built dynamically
                    )
                )
            except stripe.InvalidRequestError as exc:
                if not self._learn_unsupported(exc, adapted):
                    raise InvalidRequest(str(exc)) from exc

    async def refund(
        self, *, gateway_ref: str, amount: int | None, idempotency_key: str
    ) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": gateway_ref,
            "metadata": {"billing_refund_key": idempotency_key},
        }
        if amount is not None:
            params["amount"] = amount
        try:
            refund = await self._call(
                lambda: self._client.v1.refunds.create_async(
                    params=params,  # type: ignore[arg-type]  # built dynamically
                    options={"idempotency_key": idempotency_key},
                )
            )
        except stripe.InvalidRequestError as exc:
            raise InvalidRequest(str(exc)) from exc
        return refund_result(refund.to_dict())

    async def verify_webhook(
        self, *, payload: bytes, headers: Mapping[str, str], secret: str, now: datetime
    ) -> dict[str, Any]:
        return verify_event(payload=payload, headers=headers, secret=secret, now=now)

    async def aclose(self) -> None:
        await self._http.close_async()
