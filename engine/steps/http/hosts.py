"""Which hosts an http step may reach: `[http] allowed_hosts` parsed into rules, and the check every hop
(redirects included) passes before it is sent."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import msgspec


class HostNotAllowed(Exception):
    pass


class HostRule(msgspec.Struct, frozen=True):
    host: str  # lower case; "*" is any host; "*.example.com" is any subdomain of example.com
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


def parse_host_rule(pattern: str) -> HostRule:
    """ "api.example.com", "*.example.com", "127.0.0.1:8080", "[::1]:8080" or "*"; raise ValueError."""
    text = pattern.strip().lower().rstrip(".")
    if not text:
        raise ValueError("an empty host pattern")
    if "/" in text or "@" in text:
        raise ValueError(f"'{pattern}' is not a host: write the host name only, as in 'api.example.com'")
    port: int | None = None
    if text.startswith("["):  # an IPv6 literal, maybe with a port
        end = text.find("]")
        if end < 0:
            raise ValueError(f"'{pattern}': unclosed '['")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"'{pattern}': expected ':<port>' after ']'")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"'{pattern}': the port must be a number")
        port = int(port_text)
    else:
        host = text
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"'{pattern}': port {port} is out of range")
    if "*" in host and host != "*" and not (host.startswith("*.") and "*" not in host[2:] and len(host) > 2):
        raise ValueError(
            f"'{pattern}': '*' may only stand alone or as the first label, as in '*.example.com'"
        )
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return HostRule(host, port)


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    host = url.raw_host.decode("ascii").lower().rstrip(".")
    port = url.port or (443 if url.scheme == "https" else 80)
    return host, port


def check_host(url: httpx.URL, rules: Sequence[HostRule], allowed_hosts: Sequence[str]) -> None:
    """Raise HostNotAllowed, saying how to allow it, unless one of `rules` lets `url` through."""
    host, port = host_and_port(url)
    if not any(rule.matches(host, port) for rule in rules):
        where = f"{host}:{port}"
        if not rules:
            hint = "[http] allowed_hosts in app.toml is empty, so http steps may call no host"
        else:
            hint = f"add it to [http] allowed_hosts in app.toml (now: {', '.join(allowed_hosts)})"
        raise HostNotAllowed(f"host {where} is not allowed: {hint}")
