"""pyftpdlib as wharf-ftp-bench runs it: the default asynchronous FTPServer (one process, one
epoll loop) with its default handler settings, one user with full rights in the bench's root.

Only the connection caps are lifted (max_cons 512 by default) so 10,000 idle sessions fit, and
logging is quiet (warnings only), like the other servers in the bench. Prints
"listening on HOST:PORT" once it accepts connections, then serves until SIGTERM or SIGINT.
"""

import argparse
import logging
import signal
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--root", required=True, help="the user's home directory")
    parser.add_argument("--max-sessions", type=int, default=20000)
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    host, _, port = args.listen.rpartition(":")
    authorizer = DummyAuthorizer()
    # elradfmwMT: every right (list, retrieve, store, delete, rename, mkdir, ...).
    authorizer.add_user(args.user, args.password, args.root, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = authorizer
    server = FTPServer((host, int(port)), handler, backlog=1024)
    server.max_cons = args.max_sessions
    server.max_cons_per_ip = 0
    bound_host, bound_port = server.socket.getsockname()[:2]
    print(f"listening on {bound_host}:{bound_port}", flush=True)

    def stop(_signum, _frame):
        server.close_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
