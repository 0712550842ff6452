from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def unstorable(value, *, nul: bool = True) -> bool:
    """Text no database column can keep, in a key or a value at any depth: a lone
    surrogate (not encodable as UTF-8) or, with ``nul``, a NUL character (PostgreSQL
    refuses it in text and in JSON)."""
    if isinstance(value, str):
        if nul and "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(unstorable(k, nul=nul) or unstorable(v, nul=nul) for k, v in value.items())
    if isinstance(value, list):
        return any(unstorable(v, nul=nul) for v in value)
    return False


class SafeJSONParser(JSONParser):
    """JSON parser that turns pathological input into a 400, not a 500: nesting too deep
    for Python, and lone surrogates, which no text column can store. NUL characters are
    left to the fields, so the error names the field (DRF's text fields refuse them;
    free-form JSON fields check with ``unstorable``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON nested too deeply.") from exc
        try:
            bad = unstorable(data, nul=False)
        except RecursionError as exc:
            raise ParseError("JSON nested too deeply.") from exc
        if bad:
            raise ParseError("Text may not contain unpaired surrogates.")
        return data
