from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from billing.models import Customer


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    name: str
    phone: str | None = None
    document: str | None = None
    locale: str = "pt-BR"
    external_id: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # Omitted: a CNPJ makes the payer a business (not covered by consumer caps), a CPF not.
    is_business: bool | None = None


class CustomerPatch(msgspec.Struct, forbid_unknown_fields=True):
    email: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    phone: str | msgspec.UnsetType | None = msgspec.UNSET
    document: str | msgspec.UnsetType | None = msgspec.UNSET
    locale: str | msgspec.UnsetType = msgspec.UNSET
    external_id: str | msgspec.UnsetType | None = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    is_business: bool | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if getattr(self, f) is not msgspec.UNSET
        }


class CustomerOut(msgspec.Struct):
    id: str
    email: str
    name: str
    phone: str | None
    document: str | None
    document_type: str | None
    is_business: bool
    locale: str
    external_id: str | None
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            id=c.id,
            email=c.email,
            name=c.name,
            phone=c.phone,
            document=c.document,
            document_type=c.document_type,
            is_business=c.is_business,
            locale=c.locale,
            external_id=c.external_id,
            metadata=c.metadata_ or {},
            created_at=c.created_at,
        )


class CustomerList(msgspec.Struct):
    data: list[CustomerOut]
    has_more: bool
