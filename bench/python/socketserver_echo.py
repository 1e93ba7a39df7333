#!/usr/bin/env python3
"""Echo server on Python's own socketserver: the peer the Wharf benchmark compares against.

    python3 socketserver_echo.py --kind threading|forking [--listen 127.0.0.1:0]

Prints "listening on HOST:PORT" once it accepts connections, like wharf-echo.
Uses the standard library only, configured the idiomatic way.
"""

import argparse
import socketserver
import sys


class EchoHandler(socketserver.StreamRequestHandler):
    """Sends back every byte the client sends, until the client closes."""

    # Wharf sets TCP_NODELAY on accepted sockets by default; do the same here.
    disable_nagle_algorithm = True

    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
        except ConnectionResetError:
            # A client that closes with an echo unread resets the connection: an end, not an
            # error worth socketserver's traceback (the benchmark's clients do at each cell's end).
            return


class ThreadingEchoServer(socketserver.ThreadingTCPServer):
    """A thread per connection."""

    allow_reuse_address = True
    daemon_threads = True
    # The default of 5 refuses most of 1000 simultaneous connects.
    request_queue_size = 1024


class ForkingEchoServer(socketserver.ForkingTCPServer):
    """A process per connection, at most max_children (default 40) at once."""

    allow_reuse_address = True
    request_queue_size = 1024


SERVERS = {"threading": ThreadingEchoServer, "forking": ForkingEchoServer}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(SERVERS), required=True)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default %(default)s)")
    parser.add_argument(
        "--max-children",
        type=int,
        default=None,
        help="forking only: most children at once (default: socketserver's, 40)",
    )
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    server_class = SERVERS[args.kind]
    if args.max_children is not None:
        server_class.max_children = args.max_children
    with server_class((host, int(port)), EchoHandler) as server:
        bound_host, bound_port = server.server_address[:2]
        print(f"listening on {bound_host}:{bound_port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
