#!/usr/bin/env python3
"""A minimal FastCGI web server side, for tests/hostile.sh: connects to a
unix socket, sends one request (PARAMS from NAME=VALUE arguments), then
the first BYTES bytes of the body file, and stalls: it keeps the
connection open without sending more until the app answers.  Prints the
app's STDOUT stream (the CGI answer) and exits 0, or 1 after TIMEOUT
seconds without an answer.  On stderr it reports
"answered_after_ms=N": the milliseconds from its last byte sent to the
first byte of the answer, measured where the answer arrives, so the
figure does not depend on what else the test does meanwhile.

usage: fcgi-client.py SOCKET BODYFILE BYTES TIMEOUT NAME=VALUE...
"""
import socket
import struct
import sys
import time

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def record(rtype, content, rid=1):
    pad = (8 - len(content) % 8) % 8
    return (struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0)
            + content + b"\0" * pad)


def pair_len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def main():
    sock_path, body_file, nbytes, timeout = sys.argv[1:5]
    params = b""
    for arg in sys.argv[5:]:
        name, _, value = arg.encode().partition(b"=")
        params += pair_len(len(name)) + pair_len(len(value)) + name + value
    with open(body_file, "rb") as f:
        body = f.read()[:int(nbytes)]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    out = record(BEGIN, struct.pack(">HB5x", 1, 0))
    out += record(PARAMS, params) + record(PARAMS, b"")
    if body:
        out += record(STDIN, body)
    s.sendall(out)
    last_sent = time.monotonic()
    # Stall: no more STDIN, no empty STDIN record, connection kept open.
    s.settimeout(float(timeout))
    data = b""
    first = None
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            if first is None:
                first = time.monotonic()
            data += chunk
    except socket.timeout:
        return 1
    if first is not None:
        sys.stderr.write("answered_after_ms=%d\n"
                         % int((first - last_sent) * 1000))
    answer = b""
    while len(data) >= 8:
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        if rtype == STDOUT:
            answer += data[8:8 + clen]
        data = data[8 + clen + plen:]
    sys.stdout.buffer.write(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
