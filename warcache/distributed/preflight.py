"""Checking a broker URL before Celery gets it, so that a mistake is one line, not a hang.

Why: given a bad URL, Celery retries for 19 s and then raises an error whose first line is empty;
given a port that accepts connections and never answers, publishing and starting a worker hang
for good; a worker given an unreachable broker retries forever. One PING with a timeout answers
all of that in at most a few seconds.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from warcache.errors import WarcacheError

SCHEMES = ("redis", "rediss", "unix")
#: kombu 5.7 puts unacknowledged messages back with ZRANGE ... BYSCORE (Redis 6.2): on an older
#: server that fails at every sweep, and a dead worker's jobs would never be delivered again.
MIN_REDIS = (6, 2)


class BrokerError(WarcacheError):
    """The broker cannot be used; the message says why, on one line."""


def broker_address(url: str) -> str:
    """host:port (or the socket path) of a broker URL, for messages; never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = "?"
    return f"{parts.hostname or '?'}:{port}"


def check_broker_url(url: str) -> None:
    """Raise BrokerError unless `url` is a Redis URL warcache can use (nothing is contacted)."""
    shown = _without_password(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError as exc:
        raise BrokerError(f"invalid broker URL {shown!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise BrokerError(f"invalid broker URL {shown!r}: use redis://HOST[:PORT][/DB] "
                          f"(or rediss://, unix://), not {parts.scheme or 'no scheme'!r}")
    if parts.scheme != "unix" and not parts.hostname:
        raise BrokerError(f"invalid broker URL {shown!r}: no host")
    if port == 0:
        raise BrokerError(f"invalid broker URL {shown!r}: port 0")


def check_broker(url: str, timeout: float = 3.0) -> None:
    """Raise BrokerError with one line saying why the broker at `url` cannot be used: a bad URL,
    nothing listening, no answer within `timeout`, a password needed or refused, a database number
    out of range, a Redis too old."""
    import redis

    check_broker_url(url)
    where = broker_address(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                      retry_on_timeout=False)
    except ValueError as exc:  # a database that is not a number, a bad query option
        raise BrokerError(f"invalid broker URL {_without_password(url)!r}: {exc}") from None
    try:
        client.ping()
        version = str(client.info("server").get("redis_version", "0"))
    except redis.AuthenticationError as exc:
        text = str(exc)
        if "HELLO must be called" in text or "NOAUTH" in text or "required" in text:
            raise BrokerError(f"the broker at {where} needs a password: "
                              f"redis://:PASSWORD@{where}/DB") from None
        raise BrokerError(f"the broker at {where} refused the credentials: {_first_line(exc)}") from None
    except redis.TimeoutError:
        raise BrokerError(f"the broker at {where} did not answer within {timeout:g} s") from None
    except redis.ConnectionError as exc:
        raise BrokerError(f"cannot reach the broker at {where}: {_first_line(exc)}") from None
    except redis.ResponseError as exc:
        raise BrokerError(f"the broker at {where} said: {_first_line(exc)}") from None
    except redis.RedisError as exc:
        raise BrokerError(f"the broker at {where} cannot be used: {_first_line(exc)}") from None
    finally:
        client.close()
    numbers = tuple(int(p) if p.isdigit() else 0 for p in version.split(".")[:2])
    if numbers < MIN_REDIS:
        raise BrokerError(f"the broker at {where} runs Redis {version}; warcache needs "
                          f"{'.'.join(map(str, MIN_REDIS))} or newer")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(exc).__name__


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: hide whatever precedes an '@'
        scheme, sep, rest = url.rpartition("://")
        return f"{scheme}{sep}***@{rest.split('@', 1)[1]}" if "@" in rest else url
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    return url
