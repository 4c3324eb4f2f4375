"""/v1/settings/{dunning,collection,late_fees,negotiation,channels}: defaults, round trips
and 422 with errors[] (nothing written on bad input)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from tests.conftest import MerchantAccount


async def _get(client: AsyncClient, m: MerchantAccount, section: str) -> dict[str, Any]:
    response = await client.get(f"/v1/settings/{section}", headers=m.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_defaults(client: AsyncClient, merchant: MerchantAccount) -> None:
    dunning = await _get(client, merchant, "dunning")
    assert dunning["retry_schedule_hours"] == [24, 72, 120, 168]
    assert dunning["max_attempts"] == 5
    assert dunning["final_action"] == "mark_unpaid"
    ruler = await _get(client, merchant, "collection")
    assert ruler["quiet_hours"] == {"start": "20:00", "end": "08:00"}
    assert [s["offset_days"] for s in ruler["steps"]] == [-3, 1, 3, 7, 15]
    assert [s["tone"] for s in ruler["steps"]][-1] == "final"
    fees = await _get(client, merchant, "late_fees")
    assert fees == {
        "fee_percent": 2.0,
        "monthly_interest_percent": 1.0,
        "grace_days": 0,
        "on_time_discount_percent": 0.0,
    }
    assert (await _get(client, merchant, "negotiation"))["enabled"] is False
    assert (await _get(client, merchant, "channels"))["sms"] is None


async def test_round_trips(client: AsyncClient, merchant: MerchantAccount) -> None:
    h = merchant.headers
    body = {"retry_schedule_hours": [12, 48], "max_attempts": 3, "final_action": "cancel",
            "jitter_minutes": 0, "payday_shift": True}  # fmt: skip
    assert (await client.put("/v1/settings/dunning", json=body, headers=h)).json() == body
    assert await _get(client, merchant, "dunning") == body
    ruler = {
        "quiet_hours": {"start": "21:00", "end": "07:30"},
        "max_contacts_per_week": 2,
        "steps": [
            {"offset_days": 5, "channel": "sms", "template": "overdue", "tone": "firm"},
            {"offset_days": -1, "channel": "whatsapp", "template": "due_today",
             "tone": "friendly"},
        ],
    }  # fmt: skip
    saved = (await client.put("/v1/settings/collection", json=ruler, headers=h)).json()
    assert [s["offset_days"] for s in saved["steps"]] == [-1, 5]
    assert await _get(client, merchant, "collection") == saved
    fees = {"fee_percent": 1.5, "monthly_interest_percent": 0.5, "grace_days": 2,
            "on_time_discount_percent": 5}  # fmt: skip
    response = await client.put("/v1/settings/late_fees", json=fees, headers=h)
    assert response.json()["fee_percent"] == 1.5
    assert (await _get(client, merchant, "late_fees"))["grace_days"] == 2
    negotiation = {"enabled": True, "min_days_overdue": 30, "max_installments": 12,
                   "min_installment_amount": 5000, "cash_discount_percent": 10,
                   "waive_fees": True}  # fmt: skip
    response = await client.put("/v1/settings/negotiation", json=negotiation, headers=h)
    assert response.status_code == 200
    assert (await _get(client, merchant, "negotiation"))["max_installments"] == 12
    channels = {"sms": {"url": "https://sms.example.com/send", "token": "tok_secret"}}
    response = await client.put("/v1/settings/channels", json=channels, headers=h)
    assert response.status_code == 200
    shown = await _get(client, merchant, "channels")
    assert shown["sms"]["url"] == "https://sms.example.com/send"
    assert shown["sms"]["token_set"] is True
    assert "tok_secret" not in str(shown)
    # The URL may change without resending the token.
    again = {"sms": {"url": "https://sms2.example.com/send"}}
    assert (await client.put("/v1/settings/channels", json=again, headers=h)).status_code == 200


@pytest.mark.parametrize(
    ("section", "body", "fields"),
    [
        ("dunning", {"retry_schedule_hours": [72, 24]}, {"retry_schedule_hours"}),
        ("dunning", {"retry_schedule_hours": []}, {"retry_schedule_hours"}),
        ("dunning", {"final_action": "shout", "max_attempts": 0}, {"final_action", "max_attempts"}),
        ("collection", {"quiet_hours": {"start": "25:00", "end": "08:00"}}, {"quiet_hours.start"}),
        (
            "collection",
            {
                "steps": [
                    {"offset_days": 1, "channel": "fax", "template": "overdue", "tone": "firm"}
                ]
            },
            {"steps[0].channel"},
        ),
        (
            "collection",
            {
                "steps": [
                    {"offset_days": 1, "channel": "email", "template": "shame", "tone": "angry"}
                ]
            },
            {"steps[0].template", "steps[0].tone"},
        ),
        ("collection", {"quiet_hours": {"start": "08:00", "end": "12:00"}}, {"send_at"}),
        ("collection", {"max_contacts_per_week": 0}, {"max_contacts_per_week"}),
        ("late_fees", {"fee_percent": 10}, {"fee_percent"}),
        ("late_fees", {"monthly_interest_percent": 5}, {"monthly_interest_percent"}),
        ("late_fees", {"fee_percent": -1}, {"fee_percent"}),
        ("late_fees", {"grace_days": -2}, {"grace_days"}),
        ("negotiation", {"max_installments": 0}, {"max_installments"}),
        ("channels", {"sms": {"url": "ftp://x", "token": "t"}}, {"sms.url"}),
        ("channels", {"whatsapp": {"url": "https://wa.example.com"}}, {"whatsapp.token"}),
    ],
)
async def test_invalid_settings_are_422_with_errors(
    client: AsyncClient,
    merchant: MerchantAccount,
    section: str,
    body: dict[str, Any],
    fields: set[str],
) -> None:
    before = await _get(client, merchant, section)
    response = await client.put(f"/v1/settings/{section}", json=body, headers=merchant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert {e["field"] for e in problem["errors"]} == fields
    assert await _get(client, merchant, section) == before


async def test_wrong_types_are_422(client: AsyncClient, merchant: MerchantAccount) -> None:
    response = await client.put(
        "/v1/settings/dunning", json={"max_attempts": "many"}, headers=merchant.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_settings_need_a_key(client: AsyncClient) -> None:
    assert (await client.get("/v1/settings/dunning")).status_code == 401
