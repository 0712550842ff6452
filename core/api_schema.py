"""The OpenAPI schema documents the API's error answers on every operation.

Every error is ``{"error": {"code", "message", "fields"?}}`` (``core/api_errors.py``),
so the schema says so once, as the ``Error`` component, and a postprocessing hook
adds the statuses any operation can answer with: bad input, a missing, invalid or
out-of-scope key, an unknown object, a conflict, a body too large, a rate limit.
"""

import copy

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from .api_fields import StringField

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Per field (dotted for nested ones), what is wrong.",
                },
            },
        }
    },
}

ERRORS = {
    "400": "Bad input: malformed JSON or invalid fields (`fields` says which).",
    "401": "Missing or invalid API key.",
    "403": "The key may not do this: a publishable key where a secret key is needed, a "
    "scope the key lacks, or a browser origin the program does not allow.",
    "404": "Not found in this program.",
    "405": "Method not allowed.",
    "409": "Conflict: the same order id or idempotency key with another body.",
    "413": "The body is too large.",
    "415": "Unsupported media type: send JSON.",
    "422": "Understood but refused: the request breaks a rule of the program.",
    "429": "Too many requests: retry after `Retry-After` seconds.",
}

JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the error answers of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                response = responses.setdefault(status, {"description": description})
                # An error documented by its view without a body gets the shape too.
                response.setdefault("content", JSON_ERROR)
                if status == "429":
                    response.setdefault("headers", RETRY_AFTER)
    return result


# What the API's text fields take, as JSON Schema patterns (ECMA and Python regexes
# agree on these): no NUL character (no database keeps it; DRF's text fields refuse
# it), and, unless the field may be blank, something besides white space (DRF trims
# a value before checking it).
TEXT = r"^[^\x00]*$"
NON_BLANK_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, saying what the input serializers refuse.

    A request field that is plain text gets its pattern (``TEXT`` or
    ``NON_BLANK_TEXT``); a serializer's ``openapi_extra`` (a dict) is merged into its
    object schema, for the rules across fields that its ``validate`` enforces (one of
    two fields required, an amount's decimals per currency)."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and type(field) in (serializers.CharField, StringField)
            and schema.get("type") == "string"
            and not schema.keys() & {"pattern", "enum", "format"}
        ):
            schema["pattern"] = TEXT if field.allow_blank else NON_BLANK_TEXT
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        extra = getattr(serializer, "openapi_extra", None)
        if direction == "request" and extra:
            schema.update(copy.deepcopy(extra))
        return schema


# Bulk envelopes: the rows are checked one by one, a bad row reported in the answer's
# ``errors`` (200), so the schema constrains the list, not its items (documented as the
# row component named in the description). {component: (list field, row component)}
BULK_ROWS = {
    "CustomerBulkInput": ("customers", "CustomerRowInput"),
    "ConversionBulkInput": ("conversions", "ConversionRowInput"),
}
MAX_BULK_ROWS = 1000


def bulk_rows_checked_one_by_one(result, generator, request, public):
    """drf-spectacular postprocessing hook: bulk envelopes take any rows (see BULK_ROWS)."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, (field, row) in BULK_ROWS.items():
        if name not in schemas:
            continue
        schemas[name]["properties"][field] = {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BULK_ROWS,
            "items": {},
            "description": f"1 to {MAX_BULK_ROWS} rows, each a `{row}` "
            f"(#/components/schemas/{row}). Each row is checked on its own: a row that is "
            "not one is reported in the answer's `errors`, by index, and the others are kept.",
        }
    return result
