"""Checks made before anything starts, each failing in one line (the daemon then exits 1)."""

from __future__ import annotations

import logging
import shutil

from .config import DaemonConfig
from .errors import StartupError

log = logging.getLogger(__name__)


def check_listen(config: DaemonConfig) -> None:
    """Refuse plain TCP off loopback, unless ``--insecure-tcp``: then say, once at start-up,
    what it lets in (as dockerd warns of a TCP socket without TLS)."""
    if config.listen.is_loopback or config.tls:
        return
    if config.insecure_tcp:
        log.warning(
            "--insecure-tcp: serving plain HTTP on %s, a non-loopback address, without TLS:"
            " anyone who can reach it is root on this machine, and every request and answer"
            " crosses the network unencrypted. Use --tls-cert/--tls-key (with --tls-client-ca"
            " for mutual TLS) unless this network is yours alone",
            config.listen,
        )
        return
    raise StartupError(
        f"refusing plain TCP on {config.listen}, a non-loopback address: whoever reaches this"
        " API is root on this machine. Use --tls-cert/--tls-key (with --tls-client-ca for mutual"
        " TLS), a unix socket, a loopback address, or --insecure-tcp if you really mean it."
    )


def check_runtime(config: DaemonConfig) -> None:
    if shutil.which(config.runtime) is None:
        raise StartupError(
            f"the runtime binary {config.runtime!r} was not found: install runc (make install"
            " does) or pass --runtime PATH"
        )
    if config.criu is not None and shutil.which(config.criu) is None:
        raise StartupError(
            f"CRIU {config.criu!r} was not found or cannot run: install criu 4.x (make install"
            " does), pass --criu PATH, or --criu none to run without checkpoints"
        )


def check_tls(config: DaemonConfig) -> None:
    """Load the certificate, key and client CA as Hypercorn will, so that a missing or bad file
    is one line now rather than a traceback from the server once the keeper started it."""
    if config.tls_cert is None:
        return
    import ssl  # only here: a daemon without TLS does not pay for it (the keeper stays light)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except OSError as exc:  # ssl.SSLError is one too: not PEM, or a key of another certificate
        raise StartupError(
            f"cannot use --tls-cert {config.tls_cert} with --tls-key {config.tls_key}:"
            f" {exc.strerror or exc}"
        ) from None
    if config.tls_client_ca is not None:
        try:
            context.load_verify_locations(config.tls_client_ca)
        except OSError as exc:
            raise StartupError(
                f"cannot use --tls-client-ca {config.tls_client_ca}: {exc.strerror or exc}"
            ) from None
