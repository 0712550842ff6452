"""Links between the pages of one list, keeping the other lists' pages on the same page."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number: int) -> str:
    """``?<the current query>`` with ``param`` set to ``number``."""
    query = context["request"].GET.copy()
    query[param] = number
    return "?" + query.urlencode()
