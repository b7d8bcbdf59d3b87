"""Credentials under `tlssim up`: each service is handed only its own, and rotating them
(`tlssim ca rotate-credentials`, or deleting a file and restarting the ca) works on the
running stack."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from tlssim.harness.localstack import LocalStack, running_stack
from tlssim.pki.admin import ADMIN_TOKEN_FILE, ADMIN_TOKEN_METADATA_KEY
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, IDENTITIES, credential_path
from tlssim.pki.keys import build_csr, generate_private_key
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

pytestmark = pytest.mark.integration


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().partition("=")[::2] for entry in raw if entry)


def _issue(ca: ca_pb2_grpc.CertificateAuthorityStub, token: str) -> grpc.StatusCode:
    csr = build_csr(generate_private_key(), "valid.tlssim.test", ("valid.tlssim.test",))
    try:
        ca.IssueCertificate(
            ca_pb2.IssueCertificateRequest(
                csr_der=csr.public_bytes(serialization.Encoding.DER), profile="server"
            ),
            metadata=((ENROLLMENT_TOKEN_METADATA_KEY, token),),
            timeout=10,
        )
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def _wait_for(what: str, condition: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _revoke(stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub, token: str) -> object:
    csr = build_csr(generate_private_key(), "valid.tlssim.test", ("valid.tlssim.test",))
    server_token = credential_path(stack.data_dir / "ca", "server").read_text().strip()
    issued = ca.IssueCertificate(
        ca_pb2.IssueCertificateRequest(csr_der=csr.public_bytes(serialization.Encoding.DER)),
        metadata=((ENROLLMENT_TOKEN_METADATA_KEY, server_token),),
        timeout=10,
    )
    try:
        return ca.RevokeCertificate(
            ca_pb2.RevokeCertificateRequest(serial_hex=issued.serial_hex),
            metadata=((ADMIN_TOKEN_METADATA_KEY, token),),
            timeout=10,
        )
    except grpc.RpcError as exc:
        return exc.code()


def test_each_service_gets_its_own_credential_and_rotation_works(tmp_path: Path) -> None:
    # No TLSSIM_ADMIN_TOKEN: the admin token lives in the ca's data dir, and rotates there.
    with running_stack(tmp_path, TLSSIM_ADMIN_TOKEN="", TLSSIM_FEED_MAX_AGE_S="4") as stack:
        ca_dir = stack.data_dir / "ca"
        paths = {identity: credential_path(ca_dir, identity) for identity in IDENTITIES}
        for path in (*paths.values(), ca_dir / ADMIN_TOKEN_FILE):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for path in (*(p.parent for p in paths.values()), ca_dir / "enrollment", ca_dir):
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
        for service in ("ocsp", "server", "client"):
            env = _environ(stack.service_pid(service))
            assert env["TLSSIM_ENROLLMENT_TOKEN_FILE"] == str(paths[service])
            # No token value travels in any environment.
            assert not any(paths[i].read_text().strip() in env.values() for i in IDENTITIES)
        for service in ("ca", "faults"):
            assert "TLSSIM_ENROLLMENT_TOKEN_FILE" not in _environ(stack.service_pid(service))

        old = {name: path.read_text().strip() for name, path in paths.items()}
        old_admin = (ca_dir / ADMIN_TOKEN_FILE).read_text().strip()
        with grpc.insecure_channel(stack.env["TLSSIM_CA_ADDR"]) as channel:
            ca = ca_pb2_grpc.CertificateAuthorityStub(channel)
            assert _issue(ca, old["server"]) is grpc.StatusCode.OK

            done = stack.tlssim("ca", "rotate-credentials")
            assert done.returncode == 0, done.stderr
            new = {name: path.read_text().strip() for name, path in paths.items()}
            new_admin = (ca_dir / ADMIN_TOKEN_FILE).read_text().strip()
            assert all(new[name] != old[name] for name in IDENTITIES) and new_admin != old_admin
            assert stat.S_IMODE(paths["server"].stat().st_mode) == 0o600

            # The running ca takes the new tokens at once and refuses the old ones.
            assert _issue(ca, old["server"]) is grpc.StatusCode.UNAUTHENTICATED
            assert _issue(ca, new["server"]) is grpc.StatusCode.OK
            assert _revoke(stack, ca, old_admin) is grpc.StatusCode.PERMISSION_DENIED
            assert not isinstance(_revoke(stack, ca, new_admin), grpc.StatusCode)

            # A restarted server enrolls with the rotated credential, from the same file.
            os.kill(stack.service_pid("server"), signal.SIGKILL)
            _wait_for(
                "the server was not restarted",
                lambda: "server exited with status -9; restarted" in stack.logs(),
                within=60,
            )
            done = stack.tlssim("handshake", "--revocation", "hard")
            assert done.returncode == 0, done.stdout + done.stderr

            # Deleting a credential and restarting the ca makes a new one.
            paths["ocsp"].unlink()
            os.kill(stack.service_pid("ca"), signal.SIGKILL)
            _wait_for(
                "the ca was not restarted",
                lambda: "ca exited with status -9; restarted" in stack.logs(),
                within=60,
            )
            assert paths["ocsp"].read_text().strip() not in (old["ocsp"], new["ocsp"])

        assert "refused UNAUTHENTICATED (bad-credential)" in stack.logs()
        assert "refused PERMISSION_DENIED (bad-admin-token)" in stack.logs()
