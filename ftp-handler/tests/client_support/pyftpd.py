# An independent FTP server for the wharf-ftp client tests: pyftpdlib serving one user from a
# directory on 127.0.0.1 or ::1 (a free port), optionally with extras the tests need:
#   --hash             HASH and OPTS HASH (draft-bryan-ftpext-hash), advertised in FEAT
#   --xsha256          the legacy XSHA256 command only (not advertised)
#   --corrupt-uploads  flip one byte of every file once it is received (a faulty server)
#   --tls CERT KEY     explicit FTPS required on control and data (TLS_FTPHandler)
#   --require-reuse    with --tls: refuse data connections that do not resume the TLS session
#   --no-rest          no REST command (so no REST STREAM: uploads resume with APPE)
#   --max-upload N     stop an upload with 552 (quota exceeded) once it passes N bytes
#   --port N           listen on port N instead of a free one
#   --host ADDR        listen on ADDR (default 127.0.0.1; ::1 for IPv6)
# Prints "listening on 127.0.0.1:PORT" once it accepts connections.
import argparse
import hashlib
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import logger
from pyftpdlib.servers import FTPServer

parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--user", default="alice")
parser.add_argument("--password", default="secret")
parser.add_argument("--hash", action="store_true")
parser.add_argument("--xsha256", action="store_true")
parser.add_argument("--corrupt-uploads", action="store_true")
parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
parser.add_argument("--require-reuse", action="store_true")
parser.add_argument("--events", help="file that receives one line per data TLS handshake")
parser.add_argument("--no-rest", action="store_true")
parser.add_argument("--max-upload", type=int, help="answer 552 once an upload passes this many bytes")
args = parser.parse_args()

ALGORITHMS = {"SHA-256": hashlib.sha256, "SHA-512": hashlib.sha512, "SHA-1": hashlib.sha1, "MD5": hashlib.md5}

if args.tls:
    from OpenSSL._util import lib as openssl
    from pyftpdlib.handlers import TLS_DTPHandler as DTPBase
    from pyftpdlib.handlers import TLS_FTPHandler as Base
else:
    from pyftpdlib.handlers import DTPHandler as DTPBase

    Base = FTPHandler


class DTP(DTPBase):
    def handle_ssl_established(self):
        reused = bool(openssl.SSL_session_reused(self.socket._ssl))
        if args.events:
            with open(args.events, "a") as events:
                events.write(f"data-tls reused={int(reused)}\n")
        if args.require_reuse and not reused:
            self.cmd_channel.respond("522 Data connection must resume the control connection's TLS session.")
            self.close()

    def handle_read_event(self):
        DTPBase.handle_read_event(self)
        too_big = args.max_upload is not None and self.tot_bytes_received > args.max_upload
        if self.receive and too_big and not self._closed:
            self.transfer_finished = False
            self._resp = ("552 Quota exceeded: upload stopped.", logger.warning)
            self.close()


def file_digest(path, name):
    digest = ALGORITHMS[name]()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class Handler(Base):
    proto_cmds = dict(Base.proto_cmds)
    if args.no_rest:
        del proto_cmds["REST"]
    if args.hash:
        proto_cmds["HASH"] = dict(perm="r", auth=True, arg=True, help="Syntax: HASH <SP> file-name")
    if args.xsha256:
        proto_cmds["XSHA256"] = dict(perm="r", auth=True, arg=True, help="Syntax: XSHA256 <SP> file-name")

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.hash_algorithm = "SHA-256"
        if args.hash:
            self._extra_feats.append(
                "HASH " + ";".join(n + ("*" if n == self.hash_algorithm else "") for n in ALGORITHMS)
            )

    def ftp_OPTS(self, line):
        if args.hash and line.upper().startswith("HASH"):
            name = line[4:].strip().upper()
            if name not in ALGORITHMS:
                self.respond("501 Unknown algorithm.")
                return
            self.hash_algorithm = name
            self.respond("200 " + name)
            return
        super().ftp_OPTS(line)

    def ftp_HASH(self, path):
        if not os.path.isfile(path):
            self.respond("550 Not a file.")
            return
        size = os.path.getsize(path)
        hexdigest = file_digest(path, self.hash_algorithm)
        self.respond(f"213 {self.hash_algorithm} 0-{size} {hexdigest} {self.fs.fs2ftp(path)}")

    def ftp_XSHA256(self, path):
        if not os.path.isfile(path):
            self.respond("550 Not a file.")
            return
        self.respond("250 " + file_digest(path, "SHA-256"))

    def on_file_received(self, path):
        if args.corrupt_uploads and os.path.getsize(path) > 0:
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) // 2)
                byte = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([byte[0] ^ 0xFF]))


authorizer = DummyAuthorizer()
authorizer.add_user(args.user, args.password, args.root, perm="elradfmwMT")
Handler.authorizer = authorizer
Handler.banner = "pyftpdlib test server ready."
Handler.dtp_handler = DTP
if args.tls:
    Handler.certfile = args.tls[0]
    Handler.keyfile = args.tls[1]
    Handler.tls_control_required = True
    Handler.tls_data_required = True
    context = Handler.get_ssl_context()
    context.set_session_id(b"wharf-client-tests")

server = FTPServer((args.host, args.port), Handler)
host, port = server.socket.getsockname()[:2]
if ":" in host:
    host = f"[{host}]"
print(f"listening on {host}:{port}", flush=True)
server.serve_forever()
