"""Whether a Ray address is worth handing to Ray: checked in seconds, before any work (Ray's own
client retries for minutes and prints its log). Torch-free, so the CLI checks `--ray` at once."""

from __future__ import annotations

from dau_cli.errors import DauError

# The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS, its client
# server) answers with a SETTINGS frame of its own (frame type 4, the fourth byte of its header).
_H2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def check_ray_address(address: str) -> None:
    """A host:port (or ray://host:port) that nothing answers at, or where another kind of service
    answers (a web server, a database), is one line in seconds; Ray itself would retry for minutes.
    Other forms (auto) are Ray's to resolve."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    hint = "`ray status` on the head node prints the address, or use --ray local"
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.settimeout(5)
            s.sendall(_H2_HELLO)
            first = s.recv(9)
    except socket.timeout:
        first = b""
    except OSError as e:
        raise DauError(f"nothing answers at the Ray address {address} ({e.strerror or type(e).__name__}); {hint}") from None
    if len(first) < 4 or first[3] != 4:
        raise DauError(f"something answers at {address} but it is not Ray (it does not speak gRPC); {hint}")
