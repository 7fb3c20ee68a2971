"""What each key is used for: requests per day (UTC) and per scope exercised, and the last
client address and user agent, for the settings page, the API's key objects, the admin,
least-privilege suggestions and `roboflow workspace usage`.

Counted without a database write per request: the scope check notes the scopes a request
exercises (`note`), and the rate limit's round trip to the shared cache also increments the
key's counters (`record`: on Redis one script, one command); `flush()` moves the counters to
`KeyUsage` rows. The `flush_key_usage` command runs it from cron, and every read of usage
first moves the counts of the keys it shows (`flush_into`), so what is shown is never behind.
The counters live in the cache until then: if the cache is lost, so are the requests of at
most one flush interval (and a counter left unflushed for COUNTER_TTL expires). A request
counts once it passed authentication and the scope check, including one that the rate limit
then refuses (it was attempted with those scopes).

The order of the cache operations makes concurrent flushes and requests safe without
transactions: a request increments its counters and then adds them to the pending set (a
script runs whole on Redis, but the order matters on other caches and for the reasoning); a
flush removes a counter from the pending set and then takes (GETDEL) its value. A request
that lands in between re-adds the counter, so a later flush takes it; nothing is counted
twice and nothing is stranded.
"""

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connections, router, transaction
from django.utils import timezone

from core.throttling import FixedWindow, redis_client, run_script
from workspaces.models import Workspace

from . import lookup
from . import scopes as registry
from .models import ApiKey, KeyUsage

log = logging.getLogger(__name__)

TOTAL = ""  # the KeyUsage row of every request of a key on a day; the others name a scope
WINDOW_DAYS = 30  # what the settings page, the API and the suggestions look back on
COUNTER_TTL = 8 * 86400  # an unflushed counter expires (cron flushes every few minutes)
PENDING = "usage:pending"
TAKE_BATCH = 500  # pending entries a flush takes in one transaction
USER_AGENT_MAX = 200
_local_lock = threading.Lock()  # the local-memory cache is per process: a lock makes it atomic


def note(request, scopes_needed) -> None:
    """Remember on the request which scopes it exercises (the scope check calls this)."""
    request.exercised_scopes = tuple(s for s in scopes_needed if s != registry.ANY_KEY)


def _printable(text: str) -> str:
    """A user agent as shown: printable characters only (no NUL, controls or lone surrogates)."""
    if text.isprintable():  # the usual case, in C (surrogates are not printable)
        return text
    return "".join(ch for ch in text if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF)


def _day_code(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d")


@dataclass(frozen=True)
class Use:
    """One request of a key: what it adds to the counters."""

    key_pk: int
    scopes: tuple[str, ...]
    ip: str | None
    user_agent: str
    counts_request: bool = True  # False: more scopes of a request already counted (no total, no last seen)
    at: datetime = field(default_factory=timezone.now)

    @classmethod
    def of(cls, request, key: ApiKey, ip: str | None) -> "Use":
        agent = _printable(request.META.get("HTTP_USER_AGENT", "")[: USER_AGENT_MAX * 2])[:USER_AGENT_MAX]
        return cls(key.pk, getattr(request, "exercised_scopes", ()), ip, agent)

    def counters(self) -> list[str]:
        day = _day_code(self.at)
        counted = (TOTAL, *self.scopes) if self.counts_request else self.scopes
        return [f"{self.key_pk}:{day}:{scope}" for scope in counted]

    def last_seen(self) -> str:
        return json.dumps({"ip": self.ip, "ua": self.user_agent})

    def members(self, counters: list[str] | None = None) -> list[str]:
        """The pending-set entries of this use: its counters (as `counters()` made them, when
        given), and its last-seen entry."""
        counters = self.counters() if counters is None else counters
        return [*counters, f"last:{self.key_pk}"] if self.counts_request else counters

    def apply(self, cache) -> None:
        """Count on a cache without scripts (the local-memory one)."""
        with _local_lock:
            for counter in self.counters():
                key = f"usage:n:{counter}"
                cache.add(key, 0, timeout=COUNTER_TTL)
                cache.incr(key)
            if self.counts_request:
                cache.set(f"usage:last:{self.key_pk}", self.last_seen(), timeout=COUNTER_TTL)
            pending = cache.get(PENDING) or set()
            cache.set(PENDING, pending | set(self.members()), timeout=None)


# On Redis a request's rate-limit hit, its usage and the check of its key's record (see
# `lookup`) are one script: one command, one round trip. KEYS: the pending set, the last-seen
# entry, the rate-limit counter, the workspace's shared key version. ARGV: the counters'
# lifetime, the last-seen value ('' for none), the rate-limit window ('0': no limit), the
# record's version ('' for no check), the check's mode (`lookup.Check`), the usage counters'
# key prefix, how many counters, then the pending-set entries: the counters (each counter's
# key is the prefix and its entry), then the last-seen entry if any. Returns {status, hits}:
# status 1, the record is current; 0, the request must be settled again on the database (a
# record behind the shared version, or one kept that Redis cannot vouch for); 2, a record read
# when the request was settled again is still behind (`record` asks the database why). Nothing
# is counted unless the status is 1.
#
# Expiries are set when a counter is created; the entries are added to the pending set on
# every request (not only when their counter is created), so that a counter whose entry was
# lost (a flush cut off between taking the entry and the value, an evicted set) is pending
# again at its next request. Six commands in the steady state.
METER = """
local status = 1
if ARGV[4] ~= '' then
  local shared = tonumber(redis.call('GET', KEYS[4]) or '-1')
  local mine = tonumber(ARGV[4])
  if shared > mine then
    return {ARGV[5] == 'final' and 2 or 0, 0}
  elseif shared < 0 and ARGV[5] == 'kept' then
    return {0, 0}
  elseif mine > shared then
    redis.call('SET', KEYS[4], ARGV[4])
  end
end
local hits = 0
if ARGV[3] ~= '0' then
  hits = redis.call('INCR', KEYS[3])
  if hits == 1 then
    redis.call('EXPIRE', KEYS[3], ARGV[3])
  end
end
for i = 8, 7 + tonumber(ARGV[7]) do
  local counter = ARGV[6] .. ARGV[i]
  if redis.call('INCR', counter) == 1 then
    redis.call('EXPIRE', counter, ARGV[1])
  end
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
end
redis.call('SADD', KEYS[1], unpack(ARGV, 8))
return {status, hits}
"""


def _counter_prefix(backend: RedisCache) -> str:
    """What `make_key` puts before a usage counter's entry (with Django's default key function,
    a prefix: `_entry` and this agree, as tests/apikeys/test_usage.py checks)."""
    prefix = getattr(backend, "usage_counter_prefix", None)
    if prefix is None:
        prefix = backend.usage_counter_prefix = backend.make_key("usage:n:")  # type: ignore[attr-defined]
    return prefix


def record(use: Use, limit: FixedWindow | None = None, check: lookup.Check | None = None) -> int:
    """Count a use and, with `limit`, a hit of the key's rate limit; with `check`, check that
    the record the key was read from is current: on Redis all in one round trip. The hits in
    the limit's window (0 without a limit, or when the cache fails: the API stays up,
    uncounted and unlimited, and says so in the log). StaleRecord (nothing counted) when the
    request must be settled again on the database: its record is behind a change, or it was
    kept and Redis cannot vouch for it (`lookup.Check`)."""
    backend = caches["default"]
    subject = f"key:{use.key_pk}"
    try:
        if isinstance(backend, RedisCache):
            if lookup.records.paused():
                # Redis failed a moment ago: not tried again (and waited for) on every request
                # until the pause ends; keys meanwhile are read from the database.
                if check is not None and check.mode == lookup.KEPT:
                    raise lookup.StaleRecord
                return 0
            raw = backend.make_key
            keys = [raw(PENDING), raw(f"usage:last:{use.key_pk}"), raw(limit._key(subject)) if limit else raw("-")]
            keys.append(lookup.version_key(backend, check.workspace_id) if check else raw("-"))
            counters = use.counters()
            seen = use.last_seen() if use.counts_request else ""
            window = str(limit.window + 1) if limit else "0"
            version, mode = (str(check.version), check.mode) if check else ("", lookup.FINAL)
            args = [COUNTER_TTL, seen, window, version, mode, _counter_prefix(backend), len(counters)]
            status, hits = run_script(backend, METER, keys, [*args, *use.members(counters)])
            if status != 1 and check is not None:
                lookup.records.forget(check.workspace_id)
                if status == 0 or lookup.database_version(check.workspace_id) > check.version:
                    raise lookup.StaleRecord
                # Settled again on the database, and it is still behind Redis (restored from a
                # backup, say): served on what the database holds, counted without the check.
                return record(use, limit)
            return int(hits)
        use.apply(backend)
    except lookup.StaleRecord:
        raise
    except Exception:
        log.warning("Key usage was not counted: the cache cannot be written.", exc_info=True)
        if check is not None:
            lookup.records.pause()  # unverifiable now: read keys from the database a while
            if check.mode == lookup.KEPT:
                raise lookup.StaleRecord from None
        return 0
    return limit.incr(subject) if limit else 0


# Flushing -----------------------------------------------------------------------------


def _of(member: str) -> int | None:
    """The key a pending-set entry counts for ("12:20261204:image:read", "last:12")."""
    head = member[5:] if member.startswith("last:") else member.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def _take(only: Collection[int] | None = None) -> tuple[dict[tuple[int, date, str], int], dict[int, dict]]:
    """Take the pending counters and last-seen entries (of the keys `only`, when given) out of
    the cache."""
    backend = caches["default"]
    found: list[tuple[str, object]] = []
    if isinstance(backend, RedisCache):
        client = redis_client(backend)
        pending = backend.make_key(PENDING)
        members = sorted(m.decode() if isinstance(m, bytes) else m for m in client.smembers(pending))
        if only is not None:
            members = [m for m in members if _of(m) in only]
        if not members:
            return {}, {}
        # In batches, each one transaction (all of it taken, or none): a batch is quick, well
        # within REDIS_TIMEOUT, and one that fails leaves the batches before it to be moved.
        for start in range(0, len(members), TAKE_BATCH):
            batch = members[start : start + TAKE_BATCH]
            pipe = client.pipeline(transaction=True)
            for member in batch:
                pipe.srem(pending, member)
                pipe.getdel(backend.make_key(_entry(member)))
            try:
                values = pipe.execute()[1::2]
            except Exception:
                if not found:
                    raise
                log.warning("Key usage was flushed in part: the cache failed.", exc_info=True)
                break
            found += zip(batch, values, strict=True)
    else:
        with _local_lock:
            held = backend.get(PENDING) or set()
            members = sorted(m for m in held if only is None or _of(m) in only)
            backend.set(PENDING, held - set(members), timeout=None)
            entries = [_entry(m) for m in members]
            stored = backend.get_many(entries)
            backend.delete_many(entries)
        found = [(m, stored.get(_entry(m))) for m in members]
    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    seen: dict[int, dict] = {}
    for member, value in found:
        if value is None:
            continue
        if isinstance(value, bytes):
            value = value.decode()
        try:
            if member.startswith("last:"):
                seen[int(member[5:])] = json.loads(str(value))
            else:
                pk, day, scope = member.split(":", 2)
                counts[(int(pk), datetime.strptime(day, "%Y%m%d").date(), scope)] += int(str(value))
        except (ValueError, TypeError):
            log.warning("A malformed key usage entry was dropped: %r", member)
    return counts, seen


def _entry(member: str) -> str:
    return f"usage:{member}" if member.startswith("last:") else f"usage:n:{member}"


def _give_back(counts: dict[tuple[int, date, str], int]) -> None:
    """Put taken counts back in the cache (their database write failed)."""
    backend = caches["default"]
    for (pk, day, scope), n in counts.items():
        member = f"{pk}:{day.strftime('%Y%m%d')}:{scope}"
        if isinstance(backend, RedisCache):
            pipe = redis_client(backend).pipeline(transaction=False)
            raw = backend.make_key(f"usage:n:{member}")
            pipe.incrby(raw, n)
            pipe.expire(raw, COUNTER_TTL, nx=True)
            pipe.sadd(backend.make_key(PENDING), member)
            pipe.execute()
        else:
            with _local_lock:
                key = f"usage:n:{member}"
                backend.add(key, 0, timeout=COUNTER_TTL)
                backend.incr(key, n)
                backend.set(PENDING, (backend.get(PENDING) or set()) | {member}, timeout=None)


@dataclass(frozen=True)
class Moved:
    """What a flush moved: the requests, and where each key was last used from (ip, agent)."""

    requests: int = 0
    last_seen: dict[int, tuple[str | None, str]] = field(default_factory=dict)


def flush(only: Collection[int] | None = None) -> int:
    """Move what the cache counted (for the keys `only`, when given) to KeyUsage rows; the
    number of requests moved. Safe to run at any time from any number of processes: each
    count is moved once."""
    return move(only).requests


def move(only: Collection[int] | None = None) -> Moved:
    """`flush`, saying also where the keys were last used from (a read of rows taken before it
    shows the latest without reading them again)."""
    try:
        counts, seen = _take(only)
    except Exception:
        log.warning("Key usage was not flushed: the cache cannot be read.", exc_info=True)
        return Moved()
    if not counts and not seen:
        return Moved()
    last_seen = {pk: (info.get("ip") or None, str(info.get("ua") or "")) for pk, info in seen.items()}
    try:
        # One transaction (one commit): the counts and where each key was last used from.
        with transaction.atomic():
            # Keys deleted since they were counted (with their workspace) are left out.
            wanted = {pk for pk, _, _ in counts} | set(seen)
            found = ApiKey.objects.filter(pk__in=wanted).order_by()
            live = {pk: (ip, ua) for pk, ip, ua in found.values_list("pk", "last_used_ip", "last_used_user_agent")}
            kept = [(pk, day, scope, n) for (pk, day, scope), n in counts.items() if pk in live]
            _add(kept)
            for pk, last in last_seen.items():
                if pk in live and live[pk] != last:  # usually the same client as before: no write
                    ApiKey.objects.filter(pk=pk).update(last_used_ip=last[0], last_used_user_agent=last[1])
    except Exception:
        _give_back(counts)
        raise
    requests = sum(n for _, _, scope, n in kept if scope == TOTAL)
    return Moved(requests, {pk: last for pk, last in last_seen.items() if pk in live})


def flush_into(rows: list[dict]) -> None:
    """Flush the counts of the keys of these rows (of `ApiKeyQuerySet.rows()`), and show in the
    rows where each was last used from: what a read of them needs to be up to date, without
    moving other keys' counts (those of every workspace) on every read."""
    moved = move({row["id"] for row in rows}) if rows else Moved()
    for row in rows:
        if row["id"] in moved.last_seen:
            row["last_used_ip"], row["last_used_user_agent"] = moved.last_seen[row["id"]]


def _add(rows) -> None:
    """Add to the counts of (key, day, scope), creating the rows that are missing: one
    INSERT ... ON CONFLICT DO UPDATE, which PostgreSQL and SQLite spell the same."""
    rows = list(rows)
    if not rows:
        return
    connection = connections[router.db_for_write(KeyUsage)]
    qn = connection.ops.quote_name
    table = qn(KeyUsage._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {table} ({qn('api_key_id')}, {qn('day')}, {qn('scope')}, {qn('requests')}) "  # noqa: S608
        f"VALUES {values} ON CONFLICT ({qn('api_key_id')}, {qn('day')}, {qn('scope')}) "
        f"DO UPDATE SET {qn('requests')} = {table}.{qn('requests')} + excluded.{qn('requests')}"
    )
    params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# Reading ------------------------------------------------------------------------------


@dataclass
class Summary:
    """A key's last WINDOW_DAYS days: requests per day (oldest first) and per scope."""

    since: date
    daily: list[int]
    scopes: dict[str, int]

    @property
    def requests(self) -> int:
        return sum(self.daily)

    def used(self) -> set[str]:
        return {scope for scope, n in self.scopes.items() if n}


def window(now: datetime | None = None) -> tuple[date, date]:
    today = (now or timezone.now()).astimezone(UTC).date()
    return today - timedelta(days=WINDOW_DAYS - 1), today


# Up to this many keys, `summaries` selects their rows by id; beyond, by their workspace (a
# list of 500 parameters cost more than the rest of the query; a page of 50 of a workspace's
# thousand keys reads 50 keys' rows, not a thousand's).
BY_ID_UP_TO = 100


def summaries(key_pks, now: datetime | None = None, *, workspace=None) -> dict[int, Summary]:
    """The summaries of these keys, all of `workspace` when given (one query; run `flush()`
    before to include the latest)."""
    first, _ = window(now)
    found: dict[int, Summary] = {}
    wanted = set(key_pks)
    rows = KeyUsage.objects.filter(day__gte=first).order_by()
    if workspace is not None and len(wanted) > BY_ID_UP_TO:
        rows = rows.filter(api_key__workspace_id=workspace.pk)
    else:
        rows = rows.filter(api_key_id__in=wanted)
    for pk, day, scope, n in rows.values_list("api_key_id", "day", "scope", "requests"):
        if pk not in wanted:
            continue
        summary = found.get(pk) or found.setdefault(pk, Summary(first, [0] * WINDOW_DAYS, {}))
        if scope == TOTAL:
            position = (day - first).days
            if 0 <= position < WINDOW_DAYS:
                summary.daily[position] += n
        else:
            summary.scopes[scope] = summary.scopes.get(scope, 0) + n
    return found


def empty(now: datetime | None = None) -> Summary:
    return Summary(window(now)[0], [0] * WINDOW_DAYS, {})


# Least privilege ----------------------------------------------------------------------


def unused_scopes(
    *, scopes: list[str] | None, usage_since: datetime, used: set[str], now: datetime
) -> list[str] | None:
    """The scopes the key holds (every scope, for a full-access key) and has not exercised in
    WINDOW_DAYS; None while its usage has been counted for less than that."""
    if usage_since > now - timedelta(days=WINDOW_DAYS):
        return None
    held = registry.SCOPE_NAMES if scopes is None else scopes
    return [scope for scope in held if scope not in used]


def narrowed(scopes: list[str] | None, used: set[str]) -> list[str]:
    """What the key would hold if it kept only the scopes it used, in the registry's order."""
    held = set(registry.SCOPE_NAMES if scopes is None else scopes)
    return [scope for scope in registry.SCOPE_NAMES if scope in held and scope in used]


def usage_report(workspace: Workspace) -> dict:
    """API calls of the workspace's keys in the last 30 days (UTC), counted per key and day
    (`apikeys.usage`, flushed first): the total, per key, per day, and the rows behind them.
    Revoked and rolled keys count too: their calls happened."""
    flush()
    first, last = window()
    keys = {key.pk: key for key in ApiKey.objects.filter(workspace=workspace).only("id", "key_id", "name")}
    rows = (
        KeyUsage.objects.filter(api_key__workspace=workspace, scope=TOTAL, day__gte=first)
        .order_by("day", "api_key_id")
        .values_list("day", "api_key_id", "requests")
    )
    by_key: dict[str, int] = {}
    by_day: dict[str, int] = {}
    calls = []
    for day, key_pk, n in rows:
        key = keys[key_pk]
        label = f"{key.name} ({key.prefix})"
        by_key[label] = by_key.get(label, 0) + n
        by_day[day.isoformat()] = by_day.get(day.isoformat(), 0) + n
        calls.append({"date": day.isoformat(), "keyId": key.key_id, "name": key.name, "calls": n})
    return {
        "workspace": workspace.url,
        "counted": True,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "apiCalls": sum(by_day.values()),
        "byKey": dict(sorted(by_key.items(), key=lambda item: -item[1])),
        "byDay": by_day,
        "calls": calls,
    }
