"""The ingress's own command line: ``python -m pipeline_collector.ingress``.

Also reached as ``pipeline-collector ingress``, which hands its arguments
here unchanged.  It prints the URLs it serves and runs until interrupted
(SIGINT or SIGTERM), then exits 0; a bad combination of options, a port
in use or an unreadable certificate exits 2 with one line, before the
folder for uploads is made.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from ..units import parse_size
from .server import DEFAULT_SERVICES, IngressServer
from .settings import ENV_INGRESS_CLIENT_SECRET, ENV_INGRESS_PASSWORD

__all__ = ["main"]

_EPILOG = f"""\
example:
  export {ENV_INGRESS_PASSWORD}=...
  python -m pipeline_collector.ingress --port 8080 --dir received/ \\
      --service aap-event-driven-ansible --basic alice

  then upload with:
  curl -u "alice:${ENV_INGRESS_PASSWORD}" \\
      -F 'file=@analytics.tar.gz;type=application/vnd.redhat.aap-event-driven-ansible.x+tgz' \\
      http://127.0.0.1:8080/api/ingress/v1/upload

The password of --basic is read from {ENV_INGRESS_PASSWORD} and the secret
of the --client ids from {ENV_INGRESS_CLIENT_SECRET}: never from a flag,
which every user of the machine can read. The server prints its upload URL
(and token URL when --client is given) on start and runs until interrupted.
It is meant for local testing only.
"""


def _name(flag: str, env: str) -> Callable[[str], str]:
    """A user or client id; a secret written into the flag is refused, never shown."""

    def parse(text: str) -> str:
        if ":" in text:
            raise argparse.ArgumentTypeError(
                f"{flag} takes the name only; its secret is read from {env} (the text given"
                " is not shown)"
            )
        if not text:
            raise argparse.ArgumentTypeError(f"{flag} needs a name")
        return text

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m pipeline_collector.ingress",
        description=(
            "Run a local ingress that accepts analytics uploads the way the cloud\n"
            "ingress does (multipart POST, 202 with a request_id) and saves them."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on; 0 takes a free one"
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("received"), help="folder for received uploads"
    )
    parser.add_argument(
        "--service",
        action="append",
        dest="services",
        metavar="NAME",
        help="accepted <service> in the content type (repeatable; default: "
        + ", ".join(DEFAULT_SERVICES)
        + ")",
    )
    parser.add_argument(
        "--max-body",
        type=parse_size,
        default=100 * 2**20,
        metavar="SIZE",
        help="largest upload, in bytes or with a unit: 10MiB, 100M (default 100MiB; 413 above)",
    )
    parser.add_argument(
        "--basic",
        type=_name("--basic", ENV_INGRESS_PASSWORD),
        metavar="USER",
        help=f"require HTTP basic auth as USER, the password from {ENV_INGRESS_PASSWORD}",
    )
    parser.add_argument(
        "--client",
        type=_name("--client", ENV_INGRESS_CLIENT_SECRET),
        action="append",
        metavar="ID",
        help="an OAuth2 client allowed to get Bearer tokens at /token (repeatable), its"
        f" secret from {ENV_INGRESS_CLIENT_SECRET}",
    )
    parser.add_argument(
        "--require-identity", action="store_true", help="accept an x-rh-identity header"
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=300, help="expires_in of issued tokens"
    )
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM); enables HTTPS")
    parser.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    parser.add_argument(
        "--client-ca", type=Path, help="require client certificates signed by this CA (PEM)"
    )
    return parser


class _Parser(argparse.ArgumentParser):
    """Errors in three lines: the usage, the error, where to read more."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2,
            f"usage: {self.prog} [OPTIONS]\n{self.prog}: error: {message}\n"
            f"Run '{self.prog} --help' to see every option.\n",
        )


def _fail(message: str) -> int:
    sys.stderr.write(f"ingress: {message}\n")
    return 2


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context, if asked for; ``OSError``/``SSLError`` when a file is bad."""
    if not args.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    if args.client_ca:
        context.load_verify_locations(args.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _problem(args: argparse.Namespace, *, password: str, secret: str) -> str | None:
    """What is wrong with the options together, if anything."""
    if args.client_ca and not args.tls_cert:
        return "--client-ca needs --tls-cert"
    if args.basic and not password:
        return f"--basic needs the password in the environment: {ENV_INGRESS_PASSWORD}"
    if args.client and not secret:
        return f"--client needs the secret in the environment: {ENV_INGRESS_CLIENT_SECRET}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingress from the command line until interrupted."""
    args = _parser().parse_args(argv)
    password = os.environ.get(ENV_INGRESS_PASSWORD, "")
    secret = os.environ.get(ENV_INGRESS_CLIENT_SECRET, "")
    problem = _problem(args, password=password, secret=secret)
    if problem is not None:
        return _fail(problem)
    try:
        context = _tls(args)
    except (OSError, ssl.SSLError) as e:
        return _fail(f"cannot load the TLS certificate or key: {e.strerror or e}")
    try:
        server = IngressServer(
            args.dir,
            host=args.host,
            port=args.port,
            ssl_context=context,
            services=args.services or DEFAULT_SERVICES,
            max_body=args.max_body,
            basic=(args.basic, password) if args.basic else None,
            clients=dict.fromkeys(args.client or (), secret),
            require_identity=args.require_identity,
            token_lifetime=args.token_lifetime,
        )
    except OSError as e:
        where = f"{args.host}:{args.port}"
        if e.errno == errno.EADDRINUSE:
            return _fail(
                f"cannot listen on {where}: the port is in use;"
                " choose another --port (0 takes a free one)"
            )
        return _fail(f"cannot listen on {where} or write to {args.dir}: {e.strerror or e}")

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"upload url: {server.url}", flush=True)
    if server.clients:
        print(f"token url: {server.token_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
