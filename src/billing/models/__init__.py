"""One module per table; importing this package registers them all on ``Base.metadata``."""

from billing.models.api_key import ApiKey
from billing.models.clock_state import ClockState
from billing.models.customer import Customer
from billing.models.event import Event
from billing.models.idempotency_key import IdempotencyKey
from billing.models.invoice import Invoice, InvoiceLine, InvoiceSequence
from billing.models.merchant import Merchant
from billing.models.merchant_settings import MerchantSettings
from billing.models.payment_attempt import PaymentAttempt
from billing.models.payment_method import PaymentMethod
from billing.models.plan import Plan
from billing.models.sandbox_entry import SandboxEntry
from billing.models.subscription import Subscription

__all__ = [
    "ApiKey",
    "ClockState",
    "Customer",
    "Event",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceSequence",
    "Merchant",
    "MerchantSettings",
    "PaymentAttempt",
    "PaymentMethod",
    "Plan",
    "SandboxEntry",
    "Subscription",
]
