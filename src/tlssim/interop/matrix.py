"""The interop matrix, client role: every peer's client against every lab host, per version,
with its defaults and again with its revocation options, beside what a careful client does.

What a careful client should make of each host is data in one place (`expected_connect`,
from the hosts' own table in `tlssim.topology.vhosts`); a cell that departs from it is a
disagreement, and every known one is explained in `EXPLAINED`.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tlssim.interop.peers import ClientPeer, Outcome, Target
from tlssim.topology.vhosts import VIRTUAL_HOSTS, VirtualHost

POST_QUANTUM_GROUPS = {"X25519MLKEM768", "SecP256r1MLKEM768", "MLKEM768"}
MODES = ("defaults", "revocation")


@dataclass(frozen=True, slots=True)
class HostCase:
    name: str
    versions: tuple[str, ...]
    #: what a client must support to reach the host at all: "mldsa", "mlkem"
    needs: frozenset[str]
    #: what a careful client (chain, name, validity, revocation) ends with
    expected: str  # "connect" or the alert our client sends
    #: the versions the host speaks ("1.3", "1.2"; a legacy host may speak less)
    speaks: tuple[str, ...] = ("1.3", "1.2")

    @property
    def connect(self) -> bool:
        return self.expected == "success"


#: Legacy hosts a careful client still connects to: a 2048-bit RFC 7919 group, and Mozilla's
#: profiles (their modern parts). The other legacy hosts it refuses (docs/legacy.md).
ACCEPTABLE_LEGACY = frozenset(
    {
        "dh2048.tlssim.test",
        "mozilla-modern.tlssim.test",
        "mozilla-intermediate.tlssim.test",
        "mozilla-old.tlssim.test",
    }
)
_VERSION_NAMES = {"TLSv1_3": "1.3", "TLSv1_2": "1.2", "TLSv1_1": "1.1", "TLSv1_0": "1.0"}


def host_case(host: VirtualHost) -> HostCase:
    needs = set()
    if any(k.startswith("mldsa") for k in host.key_types):
        needs.add("mldsa")
    if host.groups and set(host.groups) <= POST_QUANTUM_GROUPS:
        needs.add("mlkem")
    if host.key_types == ("ed25519",):
        needs.add("ed25519")
    versions = ("1.3",) if needs & {"mldsa", "mlkem"} else ("1.3", "1.2")
    expected = "certificate_required" if host.client_auth == "required" else host.expected
    if host.dh_group:
        needs.add("dhe")
    if host.name in ACCEPTABLE_LEGACY:
        expected = "success"
    speaks = tuple(_VERSION_NAMES[v] for v in host.versions) or ("1.3", "1.2")
    return HostCase(host.name, versions, frozenset(needs), expected, speaks)


def host_cases(names: Sequence[str] = ()) -> list[HostCase]:
    known = {h.name: h for h in VIRTUAL_HOSTS}
    wanted = [n if n in known else f"{n}.tlssim.test" for n in names] or list(known)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise KeyError(f"unknown host {', '.join(unknown)}")
    return [host_case(known[n]) for n in wanted]


def expected_connect(peer: ClientPeer, case: HostCase, version: str) -> bool:
    """A careful client connects to the good hosts it has the algorithms for, in a version
    they speak."""
    return case.connect and case.needs <= peer.capabilities and version in case.speaks


@dataclass(frozen=True, slots=True)
class Cell:
    peer: str
    peer_version: str
    host: str
    version: str
    mode: str  # "defaults" or "revocation" (the peer's revocation options)
    connected: bool
    detail: str
    status: str  # what the peer said of the certificate's status, if anything
    expected: bool  # whether a careful client connects

    @property
    def racy(self) -> str:
        """The cell's text when the peer's outcome is a race (see `RACY`), else ""."""
        return RACY.get((self.peer, self.host, self.version), "")

    @property
    def agrees(self) -> bool:
        if self.racy:
            return not self.racy.startswith("connected")
        return self.connected == self.expected

    @property
    def text(self) -> str:
        """The cell, explaining itself: `refused: unknown_ca`, `accepted, revocation not
        checked`, `connected (goes on after: Certificate has expired)`."""
        if self.racy:
            return self.racy
        if not self.connected:
            return f"refused: {self.detail}" if self.detail else "refused"
        if self.host.startswith("revoked.") and not self.detail:
            if self.status == "revoked":
                return "accepted, staple says revoked"
            return "accepted, revocation not checked"
        return f"connected ({self.detail})" if self.detail else "connected"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.peer, self.host, self.version, self.mode)


def client_cells(
    peers: Sequence[ClientPeer], cases: Sequence[HostCase]
) -> list[tuple[ClientPeer, HostCase, str, str]]:
    """Every (peer, host, version, mode) the matrix runs, in table order."""
    cells = []
    for case in cases:
        for version in case.versions:
            for mode in MODES:
                for peer in peers:
                    if version not in peer.versions:
                        continue
                    if mode == "revocation" and not peer.revocation_options:
                        continue
                    cells.append((peer, case, version, mode))
    return cells


Progress = Callable[[int, int, str], None]


def run_client_matrix(
    peers: Sequence[ClientPeer],
    cases: Sequence[HostCase],
    address: str,
    ca_file: Path,
    *,
    progress: Progress | None = None,
    workers: int = 4,
) -> list[Cell]:
    """Runs every cell against the server at `address` (the lab's TLS port)."""
    versions = {peer.name: peer.version_of() for peer in peers}
    todo = client_cells(peers, cases)

    def one(item: tuple[ClientPeer, HostCase, str, str]) -> Cell:
        peer, case, version, mode = item
        target = Target(address, case.name, ca_file, version, mode == "revocation")
        outcome: Outcome = peer.run(target)
        return Cell(
            peer.name,
            versions[peer.name],
            case.name,
            version,
            mode,
            outcome.connected,
            outcome.detail,
            outcome.status,
            expected_connect(peer, case, version),
        )

    done: list[Cell] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for cell in pool.map(one, todo):
            done.append(cell)
            if progress is not None:
                progress(len(done), len(todo), f"{cell.peer} {cell.host} TLS {cell.version}")
    return done


#: Cells whose outcome is a race between the peer leaving and the server's refusal arriving:
#: the peer stops after its own Finished (it reads nothing more), and the server's alert
#: arrives while it is closing. (peer, host, version) -> the cell's text.
RACY: dict[tuple[str, str, str], str] = {
    ("openssl", "client-auth.tlssim.test", "1.3"): (
        "connected or refused: certificate_required (race)"
    ),
    ("nss", "client-auth.tlssim.test", "1.3"): (
        "connected or refused: SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT (race)"
    ),
    ("java", "client-auth.tlssim.test", "1.3"): (
        "refused: certificate_required, or a write on the closed socket (race)"
    ),
    ("botan", "client-auth.tlssim.test", "1.2"): (
        "refused: handshake_failure, or a write on the closed socket (race)"
    ),
    # wget's GnuTLS writes its request before the server's refusal is read (False Start)
    ("wget", "client-auth.tlssim.test", "1.2"): (
        "refused: after the handshake: The specified session has been invalidated for some "
        "reason.., or connected (race)"
    ),
}

# -- what the disagreements mean -------------------------------------------------------------

#: (peer, host or "*", mode or "*") -> why that peer's cell departs from a careful client.
EXPLAINED: dict[tuple[str, str, str], str] = {
    ("openssl", "revoked.tlssim.test", "*"): (
        "policy: s_client checks no revocation; with -status it prints the staple's "
        "'Cert Status: revoked' and goes on (a verify callback would have to refuse)"
    ),
    ("python-ssl", "revoked.tlssim.test", "*"): (
        "policy: Python's ssl has no OCSP; CRL checking needs CRLs loaded beforehand "
        "(VERIFY_CRL_CHECK_LEAF)"
    ),
    ("go", "revoked.tlssim.test", "*"): "policy: crypto/tls checks no revocation",
    ("java", "revoked.tlssim.test", "defaults"): (
        "policy: JSSE checks revocation only when told (com.sun.net.ssl.checkRevocation, "
        "jdk.tls.client.enableStatusRequestExtension)"
    ),
    ("curl", "revoked.tlssim.test", "defaults"): (
        "policy: curl checks revocation only with --cert-status"
    ),
    ("nss", "revoked.tlssim.test", "defaults"): (
        "policy: tstclnt checks no revocation unless told (-T alone fetches the staple but does "
        "not act on it; -T -O -F does)"
    ),
    ("pyopenssl", "revoked.tlssim.test", "defaults"): (
        "policy: OpenSSL checks no revocation unless an OCSP callback (the revocation option) does"
    ),
    ("nss", "wrong-host.tlssim.test", "revocation"): (
        "tool: tstclnt -O -F validates with CERT_PKIXVerifyCert, which is given no host name"
    ),
    ("nss", "client-auth.tlssim.test", "revocation"): (
        "tool: with -O -F tstclnt exits with its revocation check's result before it reads the "
        "server's refusal"
    ),
    ("botan", "*", "*"): (
        "tool: `botan tls_client` prints the validation result ('Certificate validation "
        "status: ...') and completes the handshake whatever it says"
    ),
    ("tlslite", "*", "*"): (
        "policy: tlslite-ng does no X.509 path validation (it leaves certificate checks to "
        "the application)"
    ),
    ("*", "client-auth.tlssim.test", "*"): (
        "TLS 1.3: the client's handshake is complete before the server reads its empty "
        "Certificate and refuses (RFC 8446 4.4.2.4); only a client that reads afterwards "
        "sees certificate_required"
    ),
    ("*", "cbc.tlssim.test", "*"): (
        "policy: CBC suites with HMAC are still in this stack's default TLS 1.2 offer; a "
        "careful client offers AEAD only (Lucky Thirteen, POODLE-style padding oracles)"
    ),
    ("*", "static-rsa.tlssim.test", "*"): (
        "policy: RSA key transport is still in this stack's default TLS 1.2 offer (no "
        "forward secrecy; Bleichenbacher-style oracles)"
    ),
    ("*", "3des.tlssim.test", "*"): (
        "policy: 3DES is still in this stack's default offer (Sweet32: a 64-bit block)"
    ),
    ("*", "rc4.tlssim.test", "*"): "policy: RC4 is still enabled by default here (RFC 7465)",
    ("*", "dh480.tlssim.test", "*"): "policy: accepts a 480-bit DH group (Logjam)",
    ("*", "dh1024.tlssim.test", "*"): (
        "policy: accepts a 1024-bit DH group, the size Logjam showed within reach"
    ),
    ("*", "dh-small-subgroup.tlssim.test", "*"): (
        "policy: does not check that the DH prime is safe, nor the server's value against a "
        "small subgroup (RFC 7919 section 3 asks for these checks)"
    ),
    ("*", "dh-composite.tlssim.test", "*"): (
        "policy: does not check that the DH modulus is prime (of the stacks here only Botan "
        "does: 'DH group validation failed')"
    ),
    ("go", "dh2048.tlssim.test", "*"): "policy: crypto/tls has no finite-field DHE",
    ("*", "cross-signed.tlssim.test", "*"): (
        "path building: follows the first issuer the server sent, reaches the expired Old "
        "Root CA and looks no further (NSS, Go, Java and our client find the Cross Root CA)"
    ),
    ("*", "sha1-intermediate.tlssim.test", "*"): (
        "policy: accepts SHA-1 certificate signatures under a private root (Java restricts "
        "SHA-1 only under its own cacerts roots)"
    ),
    ("*", "sha1-leaf.tlssim.test", "*"): (
        "policy: accepts SHA-1 certificate signatures under a private root (Java restricts "
        "SHA-1 only under its own cacerts roots)"
    ),
    ("wget", "mozilla-modern.tlssim.test", "*"): (
        "tool: wget's --secure-protocol=TLSv1_2 sets the lowest version, not the only one: it "
        "connects with TLS 1.3"
    ),
    ("wget", "revoked.tlssim.test", "*"): (
        "policy: wget's GnuTLS checks the stapled OCSP answer by default, like gnutls-cli"
    ),
    ("gnutls", "revoked.tlssim.test", "*"): (
        "policy: GnuTLS checks a stapled OCSP answer by default (a careful client does too)"
    ),
}


def explanation(cell: Cell) -> str:
    for peer in (cell.peer, "*"):
        for host in (cell.host, "*"):
            for mode in (cell.mode, "*"):
                found = EXPLAINED.get((peer, host, mode))
                if found:
                    return found
    return ""


# -- output ----------------------------------------------------------------------------------


def to_json(cells: Sequence[Cell]) -> str:
    return json.dumps([asdict(c) | {"text": c.text, "agrees": c.agrees} for c in cells], indent=2)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(cells: Sequence[Cell], peers: Sequence[ClientPeer]) -> str:
    """One table per mode: a row per host and version, a column per peer; a cell that departs
    from a careful client is in bold, and explained below the tables."""
    names = [p.name for p in peers if any(c.peer == p.name for c in cells)]
    by_key = {c.key: c for c in cells}
    lines: list[str] = []
    for mode in MODES:
        rows = sorted({(c.host, c.version) for c in cells if c.mode == mode}, key=_row_order)
        if not rows:
            continue
        columns = [n for n in names if any(c.peer == n and c.mode == mode for c in cells)]
        title = "its defaults" if mode == "defaults" else "its revocation options"
        lines += [f"### Client role, each peer with {title}", ""]
        lines.append("| host | TLS | " + " | ".join(columns) + " |")
        lines.append("|---|---|" + "---|" * len(columns))
        for host, version in rows:
            out = []
            for name in columns:
                cell = by_key.get((name, host, version, mode))
                if cell is None:
                    out.append("")
                else:
                    text = _escape(cell.text)
                    out.append(text if cell.agrees else f"**{text}**")
            short = host.removesuffix(".tlssim.test")
            lines.append(f"| {short} | {version} | " + " | ".join(out) + " |")
        lines.append("")
    return "\n".join(lines)


def disagreements_markdown(cells: Sequence[Cell]) -> str:
    """Each bold cell with its reason, grouped by reason."""
    groups: dict[str, list[str]] = {}
    for cell in cells:
        if cell.agrees:
            continue
        reason = explanation(cell) or "UNEXPLAINED"
        where = f"{cell.peer} {cell.host.removesuffix('.tlssim.test')} {cell.version}"
        if cell.mode != "defaults":
            where += f" ({cell.mode})"
        groups.setdefault(reason, []).append(where)
    return "\n".join(f"- {reason}: {', '.join(cells)}." for reason, cells in sorted(groups.items()))


def _row_order(row: tuple[str, str]) -> tuple[int, str]:
    names = [h.name for h in VIRTUAL_HOSTS]
    host, version = row
    return (names.index(host) if host in names else len(names), "0" if version == "1.3" else "1")


def parse_markdown(text: str) -> dict[tuple[str, str, str, str], str]:
    """The cells of a committed matrix: (peer, host, version, mode) -> cell text."""
    cells: dict[tuple[str, str, str, str], str] = {}
    mode = ""
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("### Client role"):
            mode = "defaults" if "defaults" in line else "revocation"
            columns = []
        elif line.startswith("| host | TLS |"):
            columns = [c.strip() for c in line.strip("|").split("|")][2:]
        elif mode and columns and line.startswith("| ") and not line.startswith("|---"):
            parts = [p.strip() for p in line.strip().strip("|").split(" | ")]
            host, version, values = parts[0], parts[1], parts[2:]
            for name, value in zip(columns, values, strict=False):
                if value:
                    cells[(name, f"{host}.tlssim.test", version, mode)] = value.strip("*").replace(
                        "\\|", "|"
                    )
    return cells
