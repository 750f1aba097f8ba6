"""Redis connection modes against real servers: ACL username/password, sentinel, TLS."""
from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.support.servers import RedisServer, SentinelServer, free_port


def issue_works(env: dict[str, str]) -> tuple[int, int]:
    c = create_app(load_settings(env)).test_client()
    ready = c.get("/-/ready").status_code
    reg = c.post("/register", json={"client_name": "m"}, headers=ADMIN).json
    r = c.post("/oauth/token", data={"grant_type": "client_credentials"},
               headers=basic(reg["client_id"], reg["client_secret"]))
    return ready, r.status_code


def without_redis(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("REDIS_") or k == "REDIS_TIMEOUT_SECONDS"}


@pytest.fixture
def acl_redis(tmp_path):
    server = RedisServer(tmp_path, extra=["--user", "default", "off", "--user", "gatehouse", "on",
                                          ">s3cret-pass", "~gatehouse:*", "+@all"],
                         username="gatehouse", password="s3cret-pass")
    server.start()
    yield server
    server.stop()


def test_username_and_password(env, acl_redis):
    base = {**without_redis(env), "REDIS_HOSTS": f"127.0.0.1:{acl_redis.port}", "REDIS_USERNAME": "gatehouse"}
    assert issue_works({**base, "REDIS_PASSWORD": "s3cret-pass"}) == (200, 200)
    assert issue_works({**base, "REDIS_PASSWORD": "wrong"}) == (503, 503)


@pytest.fixture
def sentinel(tmp_path):
    master = RedisServer(tmp_path / "master")
    master.start()
    watcher = SentinelServer(tmp_path / "sentinel", master.port)
    watcher.start()
    yield master, watcher
    watcher.stop()
    master.stop()


def test_sentinel_mode(env, sentinel):
    master, watcher = sentinel
    base = {**without_redis(env), "REDIS_MODE": "sentinel", "REDIS_HOSTS": f"127.0.0.1:{watcher.port}"}
    assert issue_works({**base, "REDIS_MASTER_NAME": watcher.name}) == (200, 200)
    import redis
    c = create_app(load_settings({**base, "REDIS_MASTER_NAME": watcher.name})).test_client()
    c.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("ghost", "x"))
    assert redis.Redis(port=master.port).keys("gatehouse:v1:authfail:*"), "state went to the master"
    assert issue_works({**base, "REDIS_MASTER_NAME": "no-such-master"}) == (503, 503)


def make_ca_and_cert(folder: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


class TlsTerminator:
    """A real TLS endpoint in front of the test Redis (the bundled redis-server has no TLS)."""

    def __init__(self, target_port: int, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.target = target_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while self.running:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(raw,), daemon=True).start()

    def handle(self, raw: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target))

        def pump(src, dst) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, tls), daemon=True).start()
        pump(tls, upstream)

    def close(self) -> None:
        self.running = False
        self.sock.close()


def test_tls(env, redis_server, tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path)
    terminator = TlsTerminator(redis_server.port, cert, key)
    try:
        base = {**without_redis(env), "REDIS_HOSTS": f"127.0.0.1:{terminator.port}", "REDIS_TLS": "true"}
        assert issue_works({**base, "REDIS_TLS_CACERT": str(ca)}) == (200, 200)
        (tmp_path / "other").mkdir()
        other_ca, _, _ = make_ca_and_cert(tmp_path / "other")
        assert issue_works({**base, "REDIS_TLS_CACERT": str(other_ca)}) == (503, 503)
        assert issue_works({**without_redis(env), "REDIS_HOSTS": f"127.0.0.1:{terminator.port}"}) == (503, 503)
    finally:
        terminator.close()


@pytest.mark.parametrize("acl, warned", [("+@all", False), ("+@all -info", True)], ids=["with-info", "without-info"])
def test_a_redis_user_without_info_still_reads_the_feed_and_is_told(tmp_path, caplog, acl, warned):
    """The feed is named by its server process through INFO (a Redis back from an older copy of
    its data is then a new feed). A user that may not run INFO still reads the feed, under the
    stored name alone, and one warning says what that costs."""
    import logging

    from app.adapters import redis_store

    server = RedisServer(tmp_path, extra=["--user", "default", "off", "--user", "gatehouse", "on", ">s3cret-pass",
                                          "~gatehouse:*", *acl.split()], username="gatehouse", password="s3cret-pass")
    server.start()
    client = redis_store.connect(redis_store.RedisConfig("normal", None, (("127.0.0.1", server.port),), None,
                                                         "gatehouse", "s3cret-pass", False, None, 1.0))
    try:
        feed = redis_store.RedisRevocationFeed(client)
        with caplog.at_level(logging.WARNING, logger="gatehouse.redis"):
            first, second = feed.since(0), feed.since(0)
        assert first.epoch == second.epoch and first.current == 0
        assert first.epoch.endswith("@") == warned
        assert len([r for r in caplog.records if "no run_id" in r.getMessage()]) == (1 if warned else 0)
    finally:
        client.close()
        server.stop()
