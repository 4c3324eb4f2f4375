"""The portal's Jinja environment (autoescaped, strict) and the app's TemplateConfig."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from billing.notifications import format_cnpj

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _cnpj(document: str) -> str:
    try:
        return format_cnpj(document)
    except ValueError:
        return document


def portal_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "jinja"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: compile each once per process, never stat the files.
        auto_reload=False,
    )
    env.globals["cnpj"] = _cnpj
    return env


def portal_template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(portal_environment()))
