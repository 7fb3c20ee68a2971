from datetime import UTC
from html import escape

from django import template
from django.template.defaultfilters import date
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment) -> str:
    """ "5 minutes ago", to the largest unit only."""
    if not moment:
        return ""
    since = timesince(moment, depth=1)
    return "just now" if since.startswith("0\xa0minutes") else f"{since} ago"


@register.simple_tag
def options(choices, chosen) -> str:
    """A select's options from (value, label) pairs, the chosen one selected: one tag for a list
    of fifty folders rather than three template nodes an option."""
    chosen = "" if chosen is None else str(chosen)
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, " selected" if str(value) == chosen else "", label) for value, label in choices),
    )


@register.simple_tag
def moment(when) -> str:
    """A past moment as "5 minutes ago", its exact time (UTC) on hover and for machines."""
    utc = when.astimezone(UTC)
    exact = f"{utc.day} {utc:%b %Y, %H:%M:%S} UTC"
    return format_html('<time datetime="{}" title="{}">{}</time>', utc.isoformat(), exact, ago(utc))


@register.simple_tag
def sparkline(daily: list[int], width: int = 90, height: int = 20) -> str:
    """Requests per day as an inline SVG bar chart (no script, no external file): one bar a
    day, oldest first, scaled to the busiest day; labelled for screen readers."""
    days = len(daily) or 1
    top = max(daily, default=0) or 1
    step = width / days
    bars = []
    for i, n in enumerate(daily):
        if n:
            tall = max(1.0, n / top * height)
            bars.append(
                f'<rect x="{i * step:.2f}" y="{height - tall:.2f}" width="{max(step - 1, 1):.2f}" height="{tall:.2f}"/>'
            )
    label = f"{sum(daily)} requests in the last {days} days, at most {max(daily, default=0)} a day"
    return format_html(
        '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<line x1="0" y1="{}" x2="{}" y2="{}"/>{}</svg>',
        width, height, width, height, label, height - 0.5, width, height - 0.5, mark_safe("".join(bars)),  # noqa: S308
    )  # fmt: skip


@register.simple_tag
def key_row(row: dict, *, enterprise: bool, reason: str) -> SafeString:
    """One row of the key table (`apikeys.views.page` builds `row`): one tag, not forty
    template nodes a row, which were most of the time of a page of fifty keys. Every value
    goes through `escape` (quotes included)."""
    key, url = row["key"], escape(row["url"])
    name, key_id = escape(key["name"]), escape(key["key_id"])
    badges = "".join(f'<span class="badge badge-{escape(kind)}">{escape(text)}</span>' for text, kind in row["badges"])
    grace = ""
    if row["grace_until"]:
        until = row["grace_until"]
        grace = (
            f'<div class="access">Old secret works until <time datetime="{escape(date(until, "c"))}" '
            f'title="{escape(date(until, "j M Y, H:i:s"))} UTC">{escape(date(until, "j M, H:i"))} UTC</time> · '
            f'<a href="{url}/end-grace" data-modal>End grace now</a></div>'
        )
    listed = "".join(
        f'<div class="listed"><span class="visually-hidden">{escape(title)}: </span>{escape(text)}</div>'
        for title, text in row["listed"]
    )
    by = ""
    if row["by_user"]:
        by = f" by {escape(row['by_user'])}"
    elif row["by_key"]:
        by = f" by key <code>{escape(row['by_key'])}</code>"
    last = moment(key["last_used_at"]) if key["last_used_at"] else "never"
    if key["last_used_ip"]:
        last += f'<div class="access">from {escape(key["last_used_ip"])}</div>'
    if key["protected"]:
        off = f'disabled aria-describedby="protected-{key_id}" title="{escape(reason)}"'
        actions = (
            f'<li><span class="visually-hidden" id="protected-{key_id}">{escape(reason)}</span>\n'
            f'<button type="button" class="link-button" {off}>Roll</button></li>'
            + (
                f'<li><a href="{url}/enable" data-modal>Enable</a></li>'
                if key["disabled"]
                else f'<li><button type="button" class="link-button" {off}>Disable</button></li>'
            )
            + f'<li><a href="{url}/unprotect" data-modal>Unprotect</a></li>'
            f'<li class="apart"><button type="button" class="link-button" {off}>Revoke</button></li>'
        )
    else:
        actions = f'<li><a href="{url}/roll" data-modal>Roll</a></li>'
        if key["disabled"]:
            actions += f'<li><a href="{url}/enable" data-modal>Enable</a></li>'
        elif enterprise:
            actions += f'<li><a href="{url}/disable" data-modal>Disable</a></li>'
        if enterprise:
            actions += (
                f'<li><a href="{url}/protect" data-modal>Protect</a></li>'
                f'<li class="apart"><a class="danger-link" href="{url}/revoke" data-modal>Revoke</a></li>'
            )
    return mark_safe(  # noqa: S308 - every value above is escaped
        f'<tr id="key-{key_id}"{' class="is-disabled"' if key["disabled"] else ""}>'
        f'<td>\n<strong class="key-name">{name}</strong>\n{badges}\n<div class="access">{escape(row["access"])}</div>\n'
        f"{grace}\n{listed}\n</td>\n"
        f'<td data-label="Prefix"><code>{escape(key["prefix"])}</code></td>'
        f'<td data-label="Created">{moment(key["created"])}{by}</td>'
        f'<td data-label="Last used">{last}</td>'
        f'<td data-label="Requests, 30 days" class="usage-cell">{sparkline(row["usage"].daily)} '
        f"<span>{row['usage'].requests}</span></td>"
        f'<td class="row-actions"><a class="icon-button" href="{url}/edit" data-modal aria-label="Edit {name}" '
        f'title="Edit"><svg aria-hidden="true" focusable="false" width="18" height="18"><use href="#icon-pencil"/></svg></a>\n'
        f'<details class="menu"><summary class="menu-button" aria-label="More actions for {name}">More</summary>'
        f'<ul class="menu-list" aria-label="Actions for {name}">{actions}</ul></details></td></tr>'
    )
