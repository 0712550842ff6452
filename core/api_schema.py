"""The OpenAPI schema documents the API's error answers on every operation.

Every error is ``{"error": {"code", "message", "fields"?}}`` (``core/api_errors.py``),
so the schema says so once, as the ``Error`` component, and a postprocessing hook
adds the statuses any operation can answer with: bad input, a missing, invalid or
out-of-scope key, an unknown object, a conflict, a body too large, a rate limit.
"""

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
