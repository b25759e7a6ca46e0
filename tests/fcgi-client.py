#!/usr/bin/env python3
"""A minimal FastCGI web server side, for tests/hostile.sh: connects to a
unix socket, sends one request (PARAMS from NAME=VALUE arguments), then
the first BYTES bytes of the body file, and stalls: it keeps the
connection open without sending more until the app answers.  Prints the
app's STDOUT stream (the CGI answer) and exits 0, 1 after TIMEOUT
seconds without an answer, or 3 when the app closed the connection
without one.  On stderr it reports "answered_after_ms=N", the
milliseconds from its last byte sent to the first byte of the answer,
and "answered_since_connect_ms=N", measured where the answer arrives, so
the figures do not depend on what else the test does meanwhile.

Options, before the arguments:
  --wait-for PATH   connect, then wait until PATH exists before sending
  --drip SECONDS    after BYTES, send one more body byte every SECONDS
  --get-values      send FCGI_GET_VALUES instead of a request; print the
                    record types received ("types=10") on stderr
  --cut N           send only the first N bytes of what would be sent
  --mpx             after the PARAMS, begin a second request (id 2) on
                    the same connection; report its END_REQUEST's
                    protocol status as "mpx_status=N" on stderr

usage: fcgi-client.py [OPTIONS] SOCKET BODYFILE BYTES TIMEOUT NAME=VALUE...
"""
import os
import socket
import struct
import sys
import time

BEGIN, END, PARAMS, STDIN, STDOUT, GET_VALUES = 1, 3, 4, 5, 6, 9


def record(rtype, content, rid=1):
    pad = (8 - len(content) % 8) % 8
    return (struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0)
            + content + b"\0" * pad)


def pair_len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def records(data):
    """(type, request id, content) of each complete record in data."""
    out = []
    while len(data) >= 8:
        _, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        if len(data) < 8 + clen + plen:
            break
        out.append((rtype, rid, data[8:8 + clen]))
        data = data[8 + clen + plen:]
    return out


def main():
    args = sys.argv[1:]
    opts = {}
    while args and args[0].startswith("--"):
        name = args.pop(0)
        opts[name] = (True if name in ("--mpx", "--get-values")
                      else args.pop(0))
    sock_path, body_file, nbytes, timeout = args[:4]
    params = b""
    for arg in args[4:]:
        name, _, value = arg.encode().partition(b"=")
        params += pair_len(len(name)) + pair_len(len(value)) + name + value
    with open(body_file, "rb") as f:
        whole = f.read()
    body = whole[:int(nbytes)]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    connected = time.monotonic()
    if "--wait-for" in opts:
        while not os.path.exists(opts["--wait-for"]):
            time.sleep(0.05)
    if "--get-values" in opts:
        names = b""
        for name in (b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"):
            names += pair_len(len(name)) + pair_len(0) + name
        out = record(GET_VALUES, names, rid=0)
    else:
        out = record(BEGIN, struct.pack(">HB5x", 1, 0))
        out += record(PARAMS, params) + record(PARAMS, b"")
        if "--mpx" in opts:
            out += record(BEGIN, struct.pack(">HB5x", 1, 0), rid=2)
        if body:
            out += record(STDIN, body)
    if "--cut" in opts:
        out = out[:int(opts["--cut"])]
    s.sendall(out)
    last_sent = time.monotonic()
    drip = float(opts.get("--drip", 0))
    rest = whole[int(nbytes):]
    s.settimeout(drip if drip else float(timeout))
    data = b""
    first = None
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            if time.monotonic() - connected > float(timeout):
                return 1
            if drip and rest:
                try:
                    s.sendall(record(STDIN, rest[:1]))
                except OSError:
                    break
                rest = rest[1:]
                last_sent = time.monotonic()
            continue
        except OSError:
            break
        if not chunk:
            break
        if first is None:
            first = time.monotonic()
        data += chunk
        if "--get-values" in opts and records(data):
            break
    if first is not None:
        sys.stderr.write("answered_after_ms=%d\n"
                         % int((first - last_sent) * 1000))
        sys.stderr.write("answered_since_connect_ms=%d\n"
                         % int((first - connected) * 1000))
    recs = records(data)
    if "--get-values" in opts:
        sys.stderr.write("types=%s\n" % ",".join(str(r[0]) for r in recs))
        return 0 if recs else 3
    for rtype, rid, content in recs:
        if rtype == END and rid == 2 and len(content) >= 5:
            sys.stderr.write("mpx_status=%d\n" % content[4])
    answer = b"".join(c for t, rid, c in recs if t == STDOUT and rid == 1)
    sys.stdout.buffer.write(answer)
    return 0 if answer else 3


if __name__ == "__main__":
    sys.exit(main())
