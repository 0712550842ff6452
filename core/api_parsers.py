from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _unstorable(value) -> bool:
    """A string no database column can keep: a NUL character (PostgreSQL refuses it in
    text and JSON) or a lone surrogate (not encodable as UTF-8), in a key or a value."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


class SafeJSONParser(JSONParser):
    """JSON parser that turns pathological input into a 400, not a 500: nesting too deep
    for Python, and strings no database can store (see ``_unstorable``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON nested too deeply.") from exc
        try:
            unstorable = _unstorable(data)
        except RecursionError as exc:
            raise ParseError("JSON nested too deeply.") from exc
        if unstorable:
            raise ParseError("Text may not contain NUL characters or unpaired surrogates.")
        return data
