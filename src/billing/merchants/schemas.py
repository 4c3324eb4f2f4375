from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from billing.models import ApiKey, Merchant


class MerchantOut(msgspec.Struct):
    id: str
    name: str
    legal_name: str | None
    document: str | None
    address: dict[str, Any] | None
    support_email: str | None
    support_phone: str | None
    timezone: str
    currency: str
    brand_color: str | None
    logo_url: str | None
    portal_return_url: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: Merchant) -> MerchantOut:
        return cls(
            id=m.id,
            name=m.name,
            legal_name=m.legal_name,
            document=m.document,
            address=m.address,
            support_email=m.support_email,
            support_phone=m.support_phone,
            timezone=m.timezone,
            currency=m.currency,
            brand_color=m.brand_color,
            logo_url=m.logo_url,
            portal_return_url=m.portal_return_url,
            created_at=m.created_at,
        )


class MerchantPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    legal_name: str | msgspec.UnsetType | None = msgspec.UNSET
    document: str | msgspec.UnsetType | None = msgspec.UNSET
    address: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    support_email: str | msgspec.UnsetType | None = msgspec.UNSET
    support_phone: str | msgspec.UnsetType | None = msgspec.UNSET
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    currency: str | msgspec.UnsetType = msgspec.UNSET
    brand_color: str | msgspec.UnsetType | None = msgspec.UNSET
    logo_url: str | msgspec.UnsetType | None = msgspec.UNSET
    portal_return_url: str | msgspec.UnsetType | None = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if getattr(self, f) is not msgspec.UNSET
        }


class ApiKeyOut(msgspec.Struct):
    id: str
    prefix: str
    livemode: bool
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = None  # only in the response that creates the key

    @classmethod
    def of(cls, k: ApiKey, secret: str | None = None) -> ApiKeyOut:
        return cls(k.id, k.prefix, k.livemode, k.created_at, k.revoked_at, secret)


class ApiKeyList(msgspec.Struct):
    data: list[ApiKeyOut]
    has_more: bool = False
