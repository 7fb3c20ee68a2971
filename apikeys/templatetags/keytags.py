from django import template
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment) -> str:
    """ "5 minutes ago", to the largest unit only."""
    if not moment:
        return ""
    since = timesince(moment, depth=1)
    return "just now" if since.startswith("0\xa0minutes") else f"{since} ago"
