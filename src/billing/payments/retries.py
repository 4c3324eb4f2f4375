"""When a failed invoice is charged again: the seam between payments and dunning.

The dunning planner owns the decision (``dunning.planner.plan_failure`` with the
merchant's ``/v1/settings/dunning`` policy: schedule, jitter, payday shift, max attempts).
Payments asks it the moment an outcome is recorded, so ``invoice.next_payment_attempt``
is right at once; the planner's sweep computes the same time from the same inputs and
records the dunning state, and plans anything recorded without this seam.
``payments.charge_due`` only reads ``invoice.next_payment_attempt``.
"""

from __future__ import annotations

from billing.dunning.planner import RetryContext, load_retry_context

__all__ = ["RetryContext", "load_retry_context"]
