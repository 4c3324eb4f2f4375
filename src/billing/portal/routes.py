"""Everything the portal adds to the app: the API endpoint, the pages and the static files."""

from __future__ import annotations

from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from billing.portal.actions import PortalActions
from billing.portal.api import PortalSessionController
from billing.portal.pages import PortalPages
from billing.portal.templating import STATIC, portal_template_config

PORTAL_ROUTES: list[ControllerRouterHandler] = [
    PortalSessionController,
    PortalPages,
    PortalActions,
    create_static_files_router(path="/portal/static", directories=[STATIC], name="portal_static"),
]

__all__ = ["PORTAL_ROUTES", "portal_template_config"]
