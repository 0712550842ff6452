"""Model instances from plain SQL rows, for a hot path's one statement that the ORM cannot
write (several tables' rows in one round trip) or that costs more CPU to compose than
to run.

``columns(model, alias)`` is the SELECT list of all of a model's concrete fields, and
``instance(model, row, start)`` builds the instance from those values as the ORM would
(the backend's and the fields' converters applied, e.g. SQLite's datetimes), so the
caller gets ordinary instances (saved, with their database set).
"""

from django.db import connection


def columns(model, alias: str) -> str:
    """``alias."col", ...`` for every concrete field of ``model``, in field order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def width(model) -> int:
    """How many values ``columns(model, ...)`` selects."""
    return len(model._meta.concrete_fields)


_converters: dict[tuple[str, type], list] = {}


def _field_converters(model) -> list:
    key = (connection.vendor, model)
    found = _converters.get(key)
    if found is None:
        found = []
        for field in model._meta.concrete_fields:
            col = field.get_col(model._meta.db_table)
            found.append(
                (col, connection.ops.get_db_converters(col) + col.get_db_converters(connection))
            )
        _converters[key] = found
    return found


def instance(model, row, start: int = 0):
    """The instance of ``model`` whose values start at ``row[start]`` (None when its
    primary key is NULL: the missing side of a LEFT JOIN)."""
    fields = model._meta.concrete_fields
    values = list(row[start : start + len(fields)])
    pk_index = fields.index(model._meta.pk)
    if values[pk_index] is None:
        return None
    for i, (col, converters) in enumerate(_field_converters(model)):
        for converter in converters:
            values[i] = converter(values[i], col, connection)
    return model.from_db(connection.alias, [f.attname for f in fields], values)
