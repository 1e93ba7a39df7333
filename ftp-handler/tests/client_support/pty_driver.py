# Runs a program on a pseudo-terminal and talks to it like a person at a keyboard.
# Usage: pty_driver.py STEPS_JSON PROGRAM ARGS...
# STEPS_JSON is a list of [expected_text, line_to_send_or_null]: wait until the program has
# printed expected_text (after what earlier steps matched), then type the line and Enter.
# After the last step, waits for the program to exit. Prints the whole transcript on stdout
# and exits with the program's exit code (97 if an expected text never came, 98 on a hang).
import json
import os
import pty
import select
import signal
import struct
import sys
import termios
import fcntl
import time

STEP_TIMEOUT = 60
EXIT_TIMEOUT = 60

steps = json.loads(sys.argv[1])
argv = sys.argv[2:]

pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execv(argv[0], argv)

fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
transcript = bytearray()
position = 0


def pump(timeout):
    """Reads what the program printed within timeout seconds; False at end of output."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return False
    if not chunk:
        return False
    transcript.extend(chunk)
    return True


def finish(code, message=None):
    sys.stdout.write(transcript.decode("utf-8", "replace"))
    if message:
        sys.stdout.write("\n[pty_driver] " + message + "\n")
    sys.stdout.flush()
    sys.exit(code)


for expected, reply in steps:
    wanted = expected.encode()
    deadline = time.time() + STEP_TIMEOUT
    while True:
        found = transcript.find(wanted, position)
        if found >= 0:
            position = found + len(wanted)
            break
        if time.time() > deadline or not pump(0.2):
            if transcript.find(wanted, position) >= 0:
                continue
            os.kill(pid, signal.SIGKILL)
            finish(97, f"never saw {expected!r}")
    if reply is not None:
        if "assword" in expected:
            # A password prompt is printed before echo is switched off: type after a pause,
            # as a person would, so the test checks the client and not this race.
            time.sleep(0.5)
        os.write(fd, reply.encode() + b"\r")

deadline = time.time() + EXIT_TIMEOUT
while pump(0.2):
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        finish(98, "the program did not exit")
_, status = os.waitpid(pid, 0)
finish(os.waitstatus_to_exitcode(status))
