"""The SSRF guard (coolpapers.http_guard): destinations by host:port, and the connection going to
the very address that was checked. The network is real (fakes on 127.0.0.1); only DNS is
scripted, through the resolver parameter, and one test records the socket layer under the guard.
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from coolpapers.endpoints import endpoint_key, endpoint_of, endpoints
from coolpapers.errors import BlockedAddress
from coolpapers.http import Fetcher, FetchPolicy, default_user_agent
from coolpapers.http_guard import guarded_transport
from tests.fakes.arxiv_server import FakeArxiv

FEED = Path(__file__).parent / "fixtures" / "arxiv" / "rss" / "rss-cs.LG-2026-08-21-fri.xml"
PUBLIC = "151.101.3.42"  # a global address (arxiv.org's CDN); never actually connected to
UA = default_user_agent("https://papers.example.org", "ops@example.org")


class ScriptedDNS:
    """A resolver answering each name from a script (the last answer repeats); it records every
    question, so a test sees how often a name was resolved."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = {name: [list(a) for a in seq] for name, seq in answers.items()}
        self.questions: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.questions.append((host, port))
        script = self._answers.get(host)
        if not script:
            raise OSError(f"scripted DNS: no such name {host!r}")
        return script.pop(0) if len(script) > 1 else script[0]


class RecordingBackend(httpcore.NetworkBackend):
    """The socket layer under the guard: records every address a connection is opened to.
    Only loopback is really connected; tests send nothing to the internet."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self._real = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.connects.append((host, port))
        if not ipaddress.ip_address(host).is_loopback:
            raise httpcore.ConnectError(f"{host} is unreachable from the tests")
        return self._real.connect_tcp(host, port, timeout, local_address, socket_options)


@pytest.fixture
def fake() -> Iterator[FakeArxiv]:
    with FakeArxiv() as server:
        server.serve_feed("cs.LG", FEED)
        yield server


def client(**transport: Any) -> httpx.Client:
    return httpx.Client(transport=guarded_transport(**transport))


# -- host and port ------------------------------------------------------------------------------


def test_endpoints_fill_in_the_port_and_lower_the_host() -> None:
    assert endpoint_of("https://Export.arXiv.org/api/query") == ("export.arxiv.org", 443)
    assert endpoint_of("http://rss.arxiv.org") == ("rss.arxiv.org", 80)
    assert endpoint_of("http://127.0.0.1:8080/v1") == ("127.0.0.1", 8080)
    assert endpoint_of("http://[::1]:9/") == ("::1", 9)
    assert endpoint_key(("::1", 9)) == "[::1]:9" and endpoint_key(("a.org", 443)) == "a.org:443"
    assert endpoints(["", "https://arxiv.org", ("ARXIV.org", 443)]) == {("arxiv.org", 443)}
    with pytest.raises(ValueError, match="not an http"):
        endpoint_of("ftp://arxiv.org/x")


def test_a_name_resolving_to_loopback_is_refused_unless_configured(fake: FakeArxiv) -> None:
    """Only the configured host:port may be private; another name for the same address is not."""
    dns = ScriptedDNS({"sneaky.test": [["127.0.0.1"]]})
    with client(private=[fake.base_url], resolver=dns) as http:
        with pytest.raises(BlockedAddress, match="private address 127.0.0.1 for sneaky.test"):
            http.get(f"http://sneaky.test:{fake.port}/rss/cs.LG")
        assert http.get(f"{fake.base_url}/rss/cs.LG").status_code == 200  # the configured one
    assert dns.questions == [("sneaky.test", fake.port)]
    assert len(fake.requests) == 1


def test_the_configured_host_on_another_port_is_refused(fake: FakeArxiv) -> None:
    with FakeArxiv() as other:
        other.serve_feed("cs.LG", FEED)
        with (
            client(private=[fake.base_url]) as http,
            pytest.raises(
                BlockedAddress, match=f"private address 127.0.0.1 for 127.0.0.1:{other.port}"
            ),
        ):
            http.get(f"{other.base_url}/rss/cs.LG")
        with (
            client(allowed=[fake.base_url], private=[fake.base_url]) as http,
            pytest.raises(BlockedAddress, match="not an allowed host and port"),
        ):
            http.get(f"{other.base_url}/rss/cs.LG")
        assert other.requests == []


def test_a_plain_httpx_client_over_the_guard(fake: FakeArxiv) -> None:
    """How the LLM client connects: its configured base URL may be private when the setting
    says so; the same machine's other ports may not, nor may any other host."""
    llm = [f"{fake.base_url}/v1"]
    with FakeArxiv() as other:
        with client(allowed=llm, allow_private_networks=True) as http:
            assert http.get(f"{fake.base_url}/rss/cs.LG").status_code == 200
            with pytest.raises(BlockedAddress, match="not an allowed host and port"):
                http.get(f"{other.base_url}/rss/cs.LG")
            with pytest.raises(BlockedAddress, match="not an allowed host and port"):
                http.get("http://169.254.169.254/latest/meta-data/")
        with (
            client(allowed=llm, allow_private_networks=False) as http,
            pytest.raises(BlockedAddress, match="private address 127.0.0.1"),
        ):
            http.get(f"{fake.base_url}/rss/cs.LG")
        assert other.requests == []
    assert len(fake.requests) == 1


def test_every_resolved_address_is_checked(fake: FakeArxiv) -> None:
    dns = ScriptedDNS({"mixed.test": [[PUBLIC, "127.0.0.1"]], "meta.test": [["169.254.169.254"]]})
    backend = RecordingBackend()
    with client(resolver=dns, network_backend=backend) as http:
        with pytest.raises(BlockedAddress, match="private address 127.0.0.1"):
            http.get(f"http://mixed.test:{fake.port}/")
        with pytest.raises(BlockedAddress, match="169.254.169.254"):
            http.get("http://meta.test/latest/meta-data/")
    assert backend.connects == []  # refused before any socket was opened


def test_no_private_allowance_without_configuration(fake: FakeArxiv) -> None:
    with client() as http:
        for url in (f"{fake.base_url}/", f"http://localhost:{fake.port}/"):
            with pytest.raises(BlockedAddress, match="private address"):
                http.get(url)
    assert fake.requests == []


# -- the connection goes to the checked address -----------------------------------------------


def test_rebinding_cannot_move_the_connection_to_the_second_answer(fake: FakeArxiv) -> None:
    """DNS answers a public address when checked and loopback right after (rebinding): the
    connection goes to the checked public address, and the name is resolved once."""
    dns = ScriptedDNS({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    backend = RecordingBackend()
    with (
        client(resolver=dns, network_backend=backend) as http,
        pytest.raises(httpx.ConnectError, match="unreachable from the tests"),
    ):
        http.get(f"http://rebind.test:{fake.port}/rss/cs.LG")
    assert dns.questions == [("rebind.test", fake.port)]
    assert backend.connects == [(PUBLIC, fake.port)]
    assert fake.requests == []  # loopback (the second answer) was never reached


def test_the_fetcher_connects_to_the_resolved_address_and_keeps_the_name(fake: FakeArxiv) -> None:
    """A name only our resolver knows: the fetcher opens the socket to its checked address and
    still sends the name in Host."""
    dns = ScriptedDNS({"arxiv.test": [["127.0.0.1"]]})
    configured = endpoints([("arxiv.test", fake.port)])
    policy = FetchPolicy(
        user_agent=UA,
        min_interval_s=0.0,
        max_attempts=1,
        allowed_endpoints=configured,
        private_endpoints=configured,
        resolver=dns,
    )
    fetcher = Fetcher(policy)
    try:
        for _ in range(2):
            assert fetcher.get(f"http://arxiv.test:{fake.port}/rss/cs.LG").status == 200
    finally:
        fetcher.close()
    assert [r.headers["host"] for r in fake.requests] == [f"arxiv.test:{fake.port}"] * 2
    assert dns.questions == [("arxiv.test", fake.port)]  # one connection, kept alive
    assert fake.max_concurrent == 1


# -- TLS: SNI and certificate verification use the name, not the address ----------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for arxiv.test (openssl, as on any Debian machine)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=arxiv.test",
            "-addext",
            "subjectAltName=DNS:arxiv.test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_is_verified_for_the_name_while_the_socket_goes_to_the_address(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    trust = ssl.create_default_context(cafile=str(cert))
    with FakeArxiv(tls=server_tls) as fake:
        fake.serve_feed("cs.LG", FEED)
        dns = ScriptedDNS({"arxiv.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
        private = [("arxiv.test", fake.port), ("other.test", fake.port)]
        with client(private=private, resolver=dns, verify=trust) as http:
            response = http.get(f"https://arxiv.test:{fake.port}/rss/cs.LG")
            assert response.status_code == 200 and response.content == FEED.read_bytes()
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|match"):
                http.get(f"https://other.test:{fake.port}/rss/cs.LG")  # the cert names arxiv.test
        assert names[0] == "arxiv.test"
        assert fake.requests[0].headers["host"] == f"arxiv.test:{fake.port}"
        assert len(fake.requests) == 1
