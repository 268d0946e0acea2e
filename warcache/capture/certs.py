"""The TLS identity the recording proxy shows the capture browser.

The capture browser runs in a context that ignores certificate errors for its own proxy, so one
throw-away self-signed certificate per process is enough: no CA to install, nothing written to the
user's trust store, nothing kept on disk after start-up. The real server's certificate is still
checked by the proxy itself (unless the user says --ignore-https-errors).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import ssl
import tempfile
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@lru_cache(maxsize=1)
def _self_signed_pem() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warcache recording proxy")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@lru_cache(maxsize=1)
def proxy_server_context() -> ssl.SSLContext:
    """A server-side SSL context speaking HTTP/1.1 only, with the process's throw-away certificate.
    One per process: a context is only read once set up, and every page's proxy can share it."""
    cert_pem, key_pem = _self_signed_pem()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    # load_cert_chain only reads files: write them to a private temporary directory, then remove it.
    with tempfile.TemporaryDirectory(prefix="warcache-tls-") as tmp:
        path = os.path.join(tmp, "proxy.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(cert_pem + key_pem)
        ctx.load_cert_chain(path)
    return ctx


@lru_cache(maxsize=2)
def upstream_client_context(verify: bool) -> ssl.SSLContext:
    """The context the proxy uses towards real servers: verifying by default, HTTP/1.1 only. One
    of each per process: loading the system's CA certificates costs about 20 ms of CPU, which
    every page paid when each proxy made its own."""
    if verify:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # Archiving an old site matters more than its TLS hygiene once the user has opted in.
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        with contextlib.suppress(ssl.SSLError):  # depends on the OpenSSL build
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
