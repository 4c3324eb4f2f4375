"""One module per table; importing this package registers them all on ``Base.metadata``."""

from billing.models.agreement import Agreement, AgreementInvoice
from billing.models.api_key import ApiKey
from billing.models.clock_state import ClockState
from billing.models.collection_message import CollectionMessage
from billing.models.console_session import ConsoleSession
from billing.models.customer import Customer
from billing.models.customer_note import CustomerNote
from billing.models.dunning_state import DunningState
from billing.models.event import Event
from billing.models.gateway_event import GatewayEvent
from billing.models.idempotency_key import IdempotencyKey
from billing.models.invoice import Invoice, InvoiceLine, InvoiceSequence
from billing.models.merchant import Merchant
from billing.models.merchant_settings import MerchantSettings
from billing.models.payment_attempt import PaymentAttempt
from billing.models.payment_method import PaymentMethod
from billing.models.payment_promise import PaymentPromise
from billing.models.payment_reconciliation import PaymentReconciliation
from billing.models.plan import Plan
from billing.models.portal_session import PortalLoginAttempt, PortalSession
from billing.models.sandbox_entry import SandboxEntry
from billing.models.subscription import Subscription
from billing.models.webhook_endpoint import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Agreement",
    "AgreementInvoice",
    "ApiKey",
    "ClockState",
    "CollectionMessage",
    "ConsoleSession",
    "Customer",
    "CustomerNote",
    "DunningState",
    "Event",
    "GatewayEvent",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "InvoiceSequence",
    "Merchant",
    "MerchantSettings",
    "PaymentAttempt",
    "PaymentMethod",
    "PaymentPromise",
    "PaymentReconciliation",
    "Plan",
    "PortalLoginAttempt",
    "PortalSession",
    "SandboxEntry",
    "Subscription",
    "WebhookDelivery",
    "WebhookEndpoint",
]
