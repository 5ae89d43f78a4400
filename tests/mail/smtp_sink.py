"""The tests' SMTP server: accepts every message on 127.0.0.1:<port> and writes each one as
<n>.eml into <dir> (written under a temporary name, then renamed: a reader never sees half a
message). With --refuse it answers 451 (try again later) to every recipient, as a server
that is up but not accepting. Prints "ready" once listening; stops on SIGTERM or SIGINT.

Run with the venv `scripts/ensure-deps.sh test` makes: target/mail-venv/bin/python.
"""

import argparse
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, refuse):
        self.directory = directory
        self.refuse = refuse
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return "451 4.3.0 Not now, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = 1 + sum(1 for f in os.listdir(self.directory) if f.endswith(".eml"))
            tmp = os.path.join(self.directory, f".{n}.tmp")
            with open(tmp, "wb") as f:
                rcpt = ", ".join(envelope.rcpt_tos)
                f.write(f"X-Sink-Rcpt-To: {rcpt}\r\n".encode())
                f.write(envelope.original_content or envelope.content)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--refuse", action="store_true", help="answer 451 to every recipient")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir, args.refuse), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
