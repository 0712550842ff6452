"""CSV exports of admin lists: the rows the list shows, with its filters and search."""

import csv
from datetime import datetime

from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from core.money import CURRENCY_EXPONENTS, to_decimal_string

CHUNK = 2000


class _Echo:
    def write(self, value):
        return value


def _cell(value, currency: str | None, is_money: bool):
    if is_money and isinstance(value, int) and currency in CURRENCY_EXPONENTS:
        return to_decimal_string(value, currency)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def csv_response(queryset, fields: list[str], filename: str) -> StreamingHttpResponse:
    """Stream ``fields`` (paths like ``advocate__email``) of each row; amounts ending in
    ``_minor`` are written in major units of the row's ``currency`` ("10.00")."""
    currency_at = fields.index("currency") if "currency" in fields else None
    money = [f.endswith("_minor") for f in fields]
    header = [f.removesuffix("_minor").replace("__", "_") for f in fields]

    def rows():
        yield header
        # Keyset pages by id: bounded memory, and no server-side cursor left open
        # on the connection while the response streams.
        last = 0
        while True:
            page = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[
                :CHUNK
            ])  # fmt: skip
            for pk, *values in page:
                currency = values[currency_at] if currency_at is not None else None
                yield [_cell(v, currency, m) for v, m in zip(values, money, strict=True)]
                last = pk
            if len(page) < CHUNK:
                return

    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows()), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


class CsvExportMixin:
    """``Export CSV`` on a list page: all rows matching its filters and search.
    ``csv_fields`` names the columns."""

    csv_fields: list[str] = []
    change_list_template = "admin/console/change_list_export.html"

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        # The list's own query: its filters, search and the manager's programs.
        changelist = self.get_changelist_instance(request)
        return csv_response(
            changelist.get_queryset(request),
            self.csv_fields,
            self.model._meta.verbose_name_plural.replace(" ", "-"),
        )
