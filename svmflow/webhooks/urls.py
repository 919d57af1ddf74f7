"""Which callback URLs may be called: https only, and never an address inside the network.

A URL is checked twice: when it is registered (syntax, a literal address, what its name resolves to
then) and again at every delivery, because a name can resolve elsewhere later (DNS rebinding). The
delivery then connects to exactly the address it checked, never resolving the name a second time.

Refused: loopback, private (RFC 1918, unique local), link-local (which holds the cloud metadata
service, 169.254.169.254 and fd00:ec2::254), carrier-grade NAT, multicast, reserved and unspecified
addresses; IPv6 forms that embed an IPv4 one (::ffff:127.0.0.1, NAT64, 6to4) are judged by the IPv4
address inside; hosts written as a bare number, or in octal or hex (2130706433, 0177.0.0.1,
0x7f.1), which resolvers would quietly turn into an address, are refused outright.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from svmflow.errors import PermanentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
# Names that reach the metadata service without looking like an address.
_METADATA_NAMES = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A label of digits, or 0x-prefixed hex: any host made only of these is a number to a resolver.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class UnsafeUrlError(PermanentError):
    """The callback URL may not be called; the message says why."""


@dataclass(frozen=True)
class UrlPolicy:
    """``allow_loopback`` / ``allow_private`` exist for tests and private deployments; both off in
    production."""

    allow_loopback: bool = False
    allow_private: bool = False


def policy_for(allowances: Sequence[str]) -> UrlPolicy:
    """The policy the settings name (``SVMFLOW_WEBHOOK_ALLOW``: loopback and/or private)."""
    return UrlPolicy(allow_loopback="loopback" in allowances, allow_private="private" in allowances)


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed, with the addresses it may be delivered to."""

    url: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrlError(f"callback host {host!r} does not resolve: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    # The deprecated IPv4-compatible form ::a.b.c.d
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def address_refusal(address: IPAddress, policy: UrlPolicy) -> str | None:
    """Why this address may not be called, or None if it may."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        reason = address_refusal(inner, policy)
        return None if reason is None else f"{reason} (embedded in {address})"
    if address.is_loopback:
        return None if policy.allow_loopback else f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is link-local (the metadata service lives there)"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is not a unicast internet address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return None if policy.allow_private else f"{address} is a shared (carrier-grade NAT) address"
    if address.is_private or not address.is_global:
        return None if policy.allow_private else f"{address} is a private address"
    return None


def _parse_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_syntax(url: str) -> tuple[str, int, str]:
    """(host, port, path) of a well-formed https URL, or UnsafeUrlError naming what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"callback URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeUrlError("callback URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"callback URL is malformed: {exc}") from exc
    if parts.scheme != "https":
        raise UnsafeUrlError("callback URL must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrlError("callback URL must not carry credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrlError("callback URL has no host")
    if parts.fragment:
        raise UnsafeUrlError("callback URL must not have a fragment")
    if not host.isascii():
        raise UnsafeUrlError("callback host must be ASCII (use its punycode form)")
    if _parse_address(host) is None and all(_NUMERIC_LABEL.match(label) for label in host.split(".")):
        raise UnsafeUrlError(f"callback host {host!r} is a number in disguise, not a name or an address")
    if host.lower() in _METADATA_NAMES or host.lower().endswith(".internal"):
        raise UnsafeUrlError(f"callback host {host!r} names an internal service")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port or 443, path


def check_url(url: str, policy: UrlPolicy, resolver: Resolver = system_resolver) -> CheckedTarget:
    """Syntax, then every address the host stands for; all of them must pass."""
    host, port, path = check_syntax(url)
    literal = _parse_address(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        addresses = resolver(host, port)
        if not addresses:
            raise UnsafeUrlError(f"callback host {host!r} resolves to no address")
    checked = []
    for text in addresses:
        address = _parse_address(text.split("%", 1)[0])
        if address is None:
            raise UnsafeUrlError(f"callback host {host!r} resolved to {text!r}, not an address")
        reason = address_refusal(address, policy)
        if reason is not None:
            raise UnsafeUrlError(f"callback host {host!r} is refused: {reason}")
        # Connect to an IPv4-mapped address as the IPv4 address it is: it needs no IPv6 socket.
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        checked.append(str(mapped or address))
    return CheckedTarget(url=url, host=host, port=port, path=path, addresses=tuple(checked))
