"""The OpenAPI document: every model described, from its docstring.

Litestar 2.25 describes a pydantic model's fields (``Field(description=...)``) but not
the model itself; this schema plugin adds the class docstring, so ``/schema`` explains
each request and answer without a second copy of the text.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.plugins.pydantic import PydanticSchemaPlugin

from src.entrypoints.version import VERSION

if TYPE_CHECKING:
    from litestar._openapi.schema_generation.schema import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class DescribedModelsPlugin(PydanticSchemaPlugin):
    @classmethod
    def for_pydantic_model(
        cls, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().for_pydantic_model(
            field_definition=field_definition, schema_creator=schema_creator
        )
        # The class's own docstring only: an undocumented model must not inherit BaseModel's.
        own_doc = vars(field_definition.annotation).get("__doc__")
        if own_doc and not schema.description:
            schema.description = inspect.cleandoc(own_doc)
        return schema


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Phoenix Flywheel — Smart Router",
        version=VERSION,
        description="The HTTP API of the Phoenix cross-app event pipeline and nudge engine. "
        "With FLYWHEEL_API_TOKEN set, every endpoint but `/health` (and this description) "
        "needs `Authorization: Bearer <token>`.",
        # Served by the app itself (no CDN, no web fonts, no remote favicon): the docs
        # render on a machine without internet access.
        render_plugins=[
            RedocRenderPlugin(
                path=["/", "/redoc"],
                js_url="/static/vendor/redoc/redoc.standalone.js",
                google_fonts=False,
                favicon="<link rel='icon' href='data:,'>",
            )
        ],
    )
