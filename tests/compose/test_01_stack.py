"""The compose stack comes up healthy and a handshake works from the host and from inside."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from tlssim.harness.localstack import handshake_report
from tlssim.pki.keys import build_csr, generate_private_key
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

from .conftest import HOST_ENDPOINTS, LONG_RUNNING, ROOT, Stack

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1200)]

VALID = "valid.tlssim.test"


def test_every_service_is_healthy_with_limits_and_logging(stack: Stack) -> None:
    for service in LONG_RUNNING:
        c = stack.container(service)
        assert stack.health(service) == "healthy", service
        host_config = c.attrs["HostConfig"]
        assert host_config["Memory"] > 0, f"{service} has no memory limit"
        assert host_config["LogConfig"]["Type"] == "json-file"
        assert host_config["Init"] is True, f"{service} runs without an init"
        assert c.attrs["Config"]["User"] == "tlssim", f"{service} runs as root"


def test_ca_state_lives_in_a_named_volume(stack: Stack) -> None:
    mounts = stack.container("ca").attrs["Mounts"]
    volume = [m for m in mounts if m["Destination"] == "/var/lib/tlssim"]
    assert volume and volume[0]["Type"] == "volume", mounts


def test_every_link_goes_through_the_faults_proxy(stack: Stack) -> None:
    configured = json.loads((ROOT / "services" / "faults.json").read_text())
    with urllib.request.urlopen("http://127.0.0.1:8474/proxies", timeout=5) as reply:
        proxies = json.load(reply)
    for proxy in configured:
        live = proxies[proxy["name"]]
        assert live["upstream"] == proxy["upstream"]
        assert live["enabled"] is True
    # and the services are configured to use them: no service dials another directly
    for service in ("ocsp", "server", "client"):
        env = dict(item.split("=", 1) for item in stack.container(service).attrs["Config"]["Env"])
        for name in ("TLSSIM_CA_ADDR", "TLSSIM_OCSP_ADDR", "TLSSIM_SERVER_ADDR"):
            if name in env:
                assert env[name].startswith("faults:"), f"{service} {name}={env[name]}"


def test_handshake_from_the_host_through_the_published_client_port(stack: Stack) -> None:
    report = handshake_report(stack.host_tlssim("handshake", "--server-name", VALID, "--json"))
    assert report.ok is True, report.alert
    assert report.server_name == VALID
    assert report.version in ("TLSv1.2", "TLSv1.3")
    assert report.chain, "no certificate chain in the report"


def test_handshake_from_inside_the_client_container(stack: Stack) -> None:
    report = handshake_report(
        stack.exec_tlssim("client", "handshake", "--server-name", VALID, "--json")
    )
    assert report.ok is True, report.alert
    assert report.alert is None


def test_trust_bundle_from_the_host(stack: Stack) -> None:
    done = stack.host_tlssim("ca", "bundle")
    assert done.returncode == 0, done.stderr
    assert "-----BEGIN CERTIFICATE-----" in done.stdout


def test_demo_tells_the_story_and_exits(stack: Stack) -> None:
    deadline = time.monotonic() + 120
    demo = stack.container("demo")
    while time.monotonic() < deadline:
        demo.reload()
        if demo.status == "exited":
            break
        time.sleep(1)
    logs = demo.logs().decode(errors="replace")
    assert demo.attrs["State"]["ExitCode"] == 0, logs
    assert f"{VALID}: handshake ok" in logs, logs


def test_compose_file_has_no_top_level_version() -> None:
    text = (Path(ROOT) / "compose.yaml").read_text()
    assert not any(line.startswith("version:") for line in text.splitlines())


def test_each_service_sees_only_its_own_enrollment_credential(stack: Stack) -> None:
    tokens = {}
    for service in ("ocsp", "server", "client"):
        c = stack.container(service)
        mounts = {m["Destination"]: m for m in c.attrs["Mounts"]}
        mount = mounts["/etc/tlssim/enrollment"]
        assert mount["Type"] == "volume" and mount["RW"] is False, mount
        assert mount["Name"].endswith(f"{service}-enrollment"), mount
        code, out = c.exec_run(["cat", "/etc/tlssim/enrollment/token"])
        assert code == 0, out
        tokens[service] = out.decode().strip()
        code, out = c.exec_run(["stat", "-c", "%a %U", "/etc/tlssim/enrollment/token"])
        assert out.decode().split() == ["600", "tlssim"], out
    assert len(set(tokens.values())) == 3 and all(tokens.values())
    # From the host, without a credential: refused.
    key = generate_private_key()
    csr = build_csr(key, VALID, (VALID,)).public_bytes(serialization.Encoding.DER)
    with grpc.insecure_channel(HOST_ENDPOINTS["TLSSIM_CA_ADDR"]) as channel:
        ca = ca_pb2_grpc.CertificateAuthorityStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            ca.IssueCertificate(ca_pb2.IssueCertificateRequest(csr_der=csr), timeout=10)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
