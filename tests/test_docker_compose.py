"""docker-compose.yml, Dockerfile, Caddyfile and .env.example for a lab's instance, checked
without Docker (none on the test machines) and without a YAML library (none in the project): the
compose file is read as the block mappings it is written in (``Block`` below, enough for this
file's subset: nested keys, one-line values, JSON-style flow lists), then

- the commands it runs are parsed by the CLI's own parser and their ``--help`` runs as a real
  ``coolpapers`` process: a command that does not exist, or a flag it does not take, fails here;
- the order (Postgres healthy → the migration done → web and worker), the volumes, and the
  settings it hands the app (every ``COOLPAPERS_*`` name a real setting, the value of each
  default valid);
- the one trusted proxy is Caddy's fixed address, which no other container can be given;
- the healthcheck's own code, run against the live app: alive when it answers 200 or 401
  (``PUBLIC_READ=false``), failing when nothing listens.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from coolpapers.cli import _parser
from coolpapers.config import Settings
from coolpapers.web import create_app
from tests.live_server import serve

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
COOLPAPERS = Path(sys.executable).parent / "coolpapers"
# ${NAME}, ${NAME:-default}, ${NAME:?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_]+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")
SETTING_NAMES = {f"COOLPAPERS_{name.upper()}" for name in Settings.model_fields}


@dataclass
class Block:
    """A key of a block mapping: its value on the key's own line, and its children."""

    value: str = ""
    children: dict[str, Block] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)  # "- x" lines right under it

    def __getitem__(self, key: str) -> Block:
        return self.children[key]


def _strip_comment(line: str) -> str:
    # a comment starts at " #" outside quotes (this file has no '#' inside quoted values but the
    # healthcheck's, which is quoted as a whole)
    quote = None
    for i, ch in enumerate(line):
        if ch in "\"'" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1] == " "):
            return line[:i].rstrip()
    return line.rstrip()


def read_blocks(text: str) -> Block:
    root = Block()
    stack: list[tuple[int, Block]] = [(-1, root)]
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if body.startswith("- "):
            parent.items.append(body[2:].strip())
            continue
        key, sep, value = body.partition(":")
        assert sep, f"not a key: {raw!r}"
        block = Block(value.strip())
        parent.children[key.strip().strip('"')] = block
        stack.append((indent, block))
    return root


def unquote(value: str) -> str:
    return json.loads(value) if value.startswith('"') else value


@pytest.fixture(scope="module")
def compose() -> Block:
    return read_blocks(COMPOSE.read_text())


def service(compose: Block, name: str) -> Block:
    """A service with the ``<<: *coolpapers`` anchor's keys merged in (its own win)."""
    own = compose["services"][name]
    merged = Block(own.value, dict(own.children), list(own.items))
    if "<<" in own.children:
        assert own["<<"].value == "*coolpapers"
        anchor = compose["x-coolpapers"]
        assert anchor.value == "&coolpapers"
        merged.children = {**anchor.children, **own.children}
    return merged


def command(compose: Block, name: str) -> list[str]:
    cmd = json.loads(service(compose, name)["command"].value)
    assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd)
    return cmd


def default_of(value: str) -> str:
    """``${NAME:-default}`` → default; anything else as written."""
    m = INTERPOLATION.fullmatch(value)
    return m["arg"] if m and m["op"] == ":-" else value


def test_reader_reads_this_files_subset() -> None:
    text = 'a: 1 # c\nb:\n  c: "x # y"\n  d:\n    - e\n    - f\n'
    root = read_blocks(text)
    assert root["a"].value == "1"
    assert unquote(root["b"]["c"].value) == "x # y"
    assert root["b"]["d"].items == ["e", "f"]


def test_services_start_in_order(compose: Block) -> None:
    services = compose["services"].children
    assert set(services) == {"postgres", "migrate", "web", "worker", "caddy"}
    postgres = services["postgres"]
    assert "pg_isready" in postgres["healthcheck"]["test"].value
    assert any(i.endswith(":/var/lib/postgresql/data") for i in postgres["volumes"].items)
    assert service(compose, "migrate")["depends_on"]["postgres"]["condition"].value == (
        "service_healthy"
    )
    for name in ("web", "worker"):
        assert service(compose, name)["depends_on"]["migrate"]["condition"].value == (
            "service_completed_successfully"
        )
    assert service(compose, "migrate")["restart"].value == '"no"'
    assert compose["services"]["caddy"]["profiles"].value == '["proxy"]'  # only when asked
    assert set(compose["volumes"].children) >= {"postgres-data", "coolpapers-data", "caddy-data"}


def readme_commands() -> dict[str, list[str]]:
    """The ``coolpapers serve|worker|db|users …`` commands README.md shows, written out whole
    (the generated settings table and ``[--option]`` / ``…`` synopses aside)."""
    text = (REPO / "README.md").read_text()
    start, end = text.index("<!-- settings:start -->"), text.index("<!-- settings:end -->")
    text = text[:start] + text[end:]
    found = {}
    for m in re.finditer(r"(?<![\w/.-])coolpapers ((?:users|db|serve|worker)\b[^`\n|#)]*)", text):
        if "…" not in m[1] and "[" not in m[1]:
            found[f"README: {m[1].strip()}"] = ["coolpapers", *shlex.split(m[1])]
    assert len(found) >= 8, found  # serve, worker, db upgrade and the five users commands
    return found


def test_commands_are_the_clis(compose: Block) -> None:
    cmds = {name: command(compose, name) for name in ("migrate", "web", "worker")}
    dockerfile_cmd = re.search(r"^CMD (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M)
    assert dockerfile_cmd
    cmds["Dockerfile"] = json.loads(dockerfile_cmd[1])
    cmds.update(readme_commands())
    parser = _parser()
    parsed = {name: parser.parse_args(cmd[1:]) for name, cmd in cmds.items()}  # SystemExit(2)
    assert {cmd[0] for cmd in cmds.values()} == {"coolpapers"}
    # the installed command's help for what the containers run, at once (each imports the app)
    words = {tuple(w for w in cmd[1:3] if not w.startswith("-")) for cmd in cmds.values()}
    words = {w for w in words if w[0] != "users"}  # parsed above; the same program
    helps = {
        w: subprocess.Popen([str(COOLPAPERS), *w, "--help"], stdout=subprocess.DEVNULL)
        for w in sorted(words)
    }
    assert {w: p.wait(timeout=120) for w, p in helps.items()} == dict.fromkeys(helps, 0)
    assert (parsed["migrate"].command, parsed["migrate"].db_command) == ("db", "upgrade")
    assert parsed["worker"].command == "worker"
    for name in ("web", "Dockerfile"):
        web = parsed[name]
        assert (web.command, web.host, web.no_scheduler) == ("serve", "0.0.0.0", True), name
    assert parsed["web"].port == 8000


def test_settings_handed_to_the_app_are_real(compose: Block) -> None:
    app = service(compose, "web")
    assert app["env_file"].value == ".env"
    env = {k: b.value for k, b in app["environment"].children.items()}
    assert set(env) <= SETTING_NAMES, set(env) - SETTING_NAMES
    assert default_of(env["COOLPAPERS_AUTH"]) == "password"
    password = INTERPOLATION.search(env["COOLPAPERS_DATABASE_URL"])
    assert password and (password["name"], password["op"]) == ("POSTGRES_PASSWORD", ":?")
    postgres_env = compose["services"]["postgres"]["environment"]
    assert postgres_env["POSTGRES_PASSWORD"].value == password[0]  # the same, required
    # every default is a valid value of its setting
    defaults = {
        name.removeprefix("COOLPAPERS_").lower(): default_of(value)
        for name, value in env.items()
        if not INTERPOLATION.search(default_of(value))
    }
    settings = Settings(**defaults)  # type: ignore[arg-type]
    assert settings.auth == "password" and settings.base_url.startswith("http")
    # .env.example: real settings only, and no Postgres password until the admin sets one
    example = (REPO / ".env.example").read_text()
    lines = [ln.lstrip("# ") for ln in example.splitlines() if "=" in ln]
    names = {ln.split("=", 1)[0] for ln in lines if ln.startswith("COOLPAPERS_")}
    assert names <= SETTING_NAMES, names - SETTING_NAMES
    assert "POSTGRES_PASSWORD=\n" in example
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_only_caddy_is_a_trusted_proxy(compose: Block) -> None:
    env = service(compose, "web")["environment"]
    trusted = default_of(env["COOLPAPERS_TRUSTED_PROXIES"].value)
    caddy = compose["services"]["caddy"]
    caddy_ip = ipaddress.ip_address(caddy["networks"]["lab"]["ipv4_address"].value)
    assert Settings(trusted_proxies=trusted).proxy_networks == [ipaddress.ip_network(caddy_ip)]
    config = compose["networks"]["lab"]["ipam"]["config"]
    [subnet_line] = [i for i in config.items if i.startswith("subnet:")]
    subnet = ipaddress.ip_network(subnet_line.split(":", 1)[1].strip())
    ip_range = ipaddress.ip_network(config["ip_range"].value)  # the item's second key
    assert caddy_ip in subnet and ip_range.subnet_of(subnet)  # type: ignore[arg-type]
    # no other container can be given Caddy's address, nor is it the gateway (the source of
    # the host's connections to the published port)
    assert caddy_ip not in ip_range and caddy_ip != next(subnet.hosts())
    for name in ("web", "worker", "migrate"):
        assert service(compose, name)["networks"].items == ["lab"]
    # the app's port is published to this machine only
    assert service(compose, "web")["ports"].items == ['"127.0.0.1:8000:8000"']
    caddyfile = (REPO / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
    assert caddy["volumes"].items[0].startswith("./Caddyfile:/etc/caddy/Caddyfile")


def _healthchecks(compose: Block) -> list[str]:
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test.items[:3] == ["CMD", "python", "-c"]
    in_compose = unquote(test.items[3])
    line = re.search(
        r'^\s+CMD \["python", "-c", (".*")\]$', (REPO / "Dockerfile").read_text(), re.M
    )
    assert line
    return [in_compose, json.loads(line[1])]


def _check(code: str, port: int) -> int:
    assert code.count("8000") == 1
    done = subprocess.run(
        [sys.executable, "-c", code.replace("8000", str(port))], capture_output=True, timeout=30
    )
    return done.returncode


@pytest.mark.parametrize("public_read", [True, False])
def test_healthcheck_alive_when_the_app_answers(
    compose: Block, settings: Settings, engine: object, public_read: bool
) -> None:
    app = create_app(
        settings.model_copy(update={"auth": "password", "public_read": public_read}),
        scheduler=False,
    )
    with serve(app) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        assert [_check(code, port) for code in _healthchecks(compose)] == [0, 0]


def test_healthcheck_fails_when_nothing_listens(compose: Block) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        assert [_check(code, port) for code in _healthchecks(compose)] == [1, 1]
