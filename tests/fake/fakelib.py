"""fakelib - the shared core of imagen's fake upstream servers (tests only).

Each fake (comfyui.py, replicate.py, openai.py, a1111.py, supabase.py) defines a
Handler class deriving from FakeHandler with methods route_GET / route_POST / ...
and calls serve(Handler, description).  What this module gives every fake:

* a threaded HTTP/1.1 server on 127.0.0.1, port 0 by default; the bound port is
  written to --port-file once the server listens (tests wait for that file);
* a request log: every request (method, path, query, headers with lower-case
  names, body as text or base64, time, and in_flight: how many requests the fake
  was handling when it arrived, itself included) is appended as one JSON line to
  --log and is also served at GET /_fake/requests (a JSON array); the most
  requests ever held at once is the largest in_flight;
* fault injection, queued per route and consumed in order:
      POST /_fake/faults   [ {fault}, ... ]      (or --fault JSON on the command line)
      POST /_fake/reset                          (clears faults and the log)
  A fault is an object:
      "match":       "POST /prompt"  method + path prefix ("*" for any method),
                     or "GET /view" etc.  Required.
      "times":       how many matching requests it applies to (default 1)
      "status":      answer with this status instead of the real handler
      "body":        body for that answer (string; default a JSON error object)
      "headers":     extra headers for that answer, e.g. {"Retry-After": "1"}
      "delay_ms":    sleep before answering (with or without "status")
      "drop":        true: send headers promising the full body, half the body, then
                     close the connection (a connection dropped mid-body)
      "truncate":    N: the real handler's body cut to N bytes (Content-Length fixed
                     to match, so the client sees a short but well-framed body)
      "garbage":     true: the real handler's body replaced by non-JSON/non-PNG bytes
      "hang_up":     true: close the connection without any answer
  A fault without status/drop/hang_up lets the real handler run and alters its
  answer (truncate/garbage) or just delays it.

Handlers answer with self.reply(status, body, content_type, headers) or
self.reply_json(status, obj, headers); both apply the current fault's
truncate/garbage/drop.  self.body is the raw request body (bytes),
self.json_body() parses it.  self.query is a dict of lists (urllib.parse).
"""

import argparse
import base64
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GARBAGE = b"<html>\x00\x01 this is not what you asked for \xff\xfe</html>"


class State:
    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.faults = []
        self.requests = []
        self.log_path = log_path
        self.data = {}  # per-fake shared state, free for handlers to use
        self.in_flight = 0  # requests being handled now (control routes aside)

    def add_faults(self, faults):
        with self.lock:
            for f in faults:
                f = dict(f)
                f.setdefault("times", 1)
                if "match" not in f:
                    raise ValueError("fault without match")
                self.faults.append(f)

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                m = f["match"].split(" ", 1)
                fm, fp = (m[0], m[1]) if len(m) == 2 else ("*", m[0])
                if fm not in ("*", method):
                    continue
                if not path.startswith(fp):
                    continue
                f["times"] -= 1
                if f["times"] <= 0:
                    self.faults.remove(f)
                return f
        return None

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a") as fh:
                    fh.write(json.dumps(entry) + "\n")

    def reset(self):
        with self.lock:
            self.faults = []
            self.requests = []
            if self.log_path:
                open(self.log_path, "w").close()


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake"
    state = None  # set by serve()

    def log_message(self, fmt, *args):  # quiet
        pass

    # --- plumbing -----------------------------------------------------------
    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return out
        return b""

    def json_body(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception:
            return None

    def _dispatch(self, method):
        u = urllib.parse.urlsplit(self.path)
        self.route = u.path
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.body = self._read_body()
        try:
            text = self.body.decode("utf-8")
            body_entry = {"body": text}
        except UnicodeDecodeError:
            body_entry = {"body_b64": base64.b64encode(self.body).decode()}
        if self.route.startswith("/_fake/"):
            return self._control(method)
        entry = {
            "time": time.time(),
            "method": method,
            "path": self.route,
            "query": {k: v[0] if len(v) == 1 else v for k, v in self.query.items()},
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_len": len(self.body),
        }
        entry.update(body_entry)
        with self.state.lock:
            self.state.in_flight += 1
            entry["in_flight"] = self.state.in_flight
        try:
            self._serve(method, entry)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _serve(self, method, entry):
        self.state.log(entry)
        self.fault = self.state.take_fault(method, self.route)
        f = self.fault or {}
        if f.get("delay_ms"):
            time.sleep(f["delay_ms"] / 1000.0)
        if f.get("hang_up"):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if "status" in f:
            body = f.get("body")
            if body is None:
                body = json.dumps({"error": {"message": "injected fault %d" % f["status"]}})
            ctype = f.get("content_type", "application/json")
            return self._send(f["status"], body.encode() if isinstance(body, str) else body,
                              ctype, f.get("headers") or {})
        handler = getattr(self, "route_" + method, None)
        if handler is None:
            return self.reply_json(405, {"error": "method not allowed"})
        try:
            handler()
        except BrokenPipeError:
            pass

    def _control(self, method):
        if method == "POST" and self.route == "/_fake/faults":
            faults = json.loads(self.body or b"[]")
            self.state.add_faults(faults if isinstance(faults, list) else [faults])
            return self._send(200, b"{}", "application/json", {})
        if method == "POST" and self.route == "/_fake/reset":
            self.state.reset()
            return self._send(200, b"{}", "application/json", {})
        if method == "GET" and self.route == "/_fake/requests":
            return self._send(200, json.dumps(self.state.requests).encode(),
                              "application/json", {})
        if method == "POST" and self.route == "/_fake/data":
            d = json.loads(self.body or b"{}")
            with self.state.lock:
                self.state.data.update(d)
            return self._send(200, b"{}", "application/json", {})
        return self._send(404, b"{}", "application/json", {})

    def _send(self, status, body, ctype, headers, fault=None):
        f = fault or {}
        if f.get("garbage"):
            body = GARBAGE
        if "truncate" in f:
            body = body[: int(f["truncate"])]
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        if f.get("drop"):
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # --- for handlers -------------------------------------------------------
    def reply(self, status, body, content_type="application/octet-stream", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self._send(status, body, content_type, headers or {}, self.fault)

    def reply_json(self, status, obj, headers=None):
        self.reply(status, json.dumps(obj).encode(), "application/json", headers)

    def base_url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_HEAD(self):
        self._dispatch("HEAD")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def arg_parser(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True, help="written with the port once listening")
    ap.add_argument("--log", help="JSON-lines request log")
    ap.add_argument("--fault", action="append", default=[], help="a fault (JSON object or list)")
    return ap


def serve(handler_cls, args, setup=None):
    """Start serving with handler_cls (a FakeHandler subclass) until killed."""
    state = State(args.log)
    if args.log:
        open(args.log, "w").close()
    for f in args.fault:
        v = json.loads(f)
        state.add_faults(v if isinstance(v, list) else [v])
    handler_cls.state = state
    srv = Server(("127.0.0.1", args.port), handler_cls)
    if setup:
        setup(srv, state)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


# A real 16x16 JPEG and WebP (libjpeg-turbo and libwebp output), for fakes whose
# upstream answers those formats.
JPEG_16 = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsj"
    "HBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo"
    "KCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAEC"
    "AwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2Jy"
    "ggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWW"
    "l5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEA"
    "AwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMi"
    "MoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0"
    "dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn"
    "6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDAooor70+JP//Z")
WEBP_16 = base64.b64decode(
    "UklGRjwAAABXRUJQVlA4IDAAAADwAQCdASoQABAAAUAmJaACdLoB+AAETAAA/uxw3/0mzxNnibPkkf/OwbEu14AAAAA=")


def png_bytes(width=8, height=8, rgb=(200, 80, 40)):
    """A real, small PNG (stdlib zlib) for fakes that must return an image."""
    import struct
    import zlib

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def png_pixels(raw):
    """(width, height, channels, rows) of an 8-bit non-interlaced PNG of colour type 0
    (grey), 2 (RGB), 4 (grey+alpha) or 6 (RGBA), every filter type; rows are bytearrays.
    ValueError for anything else."""
    import struct
    import zlib

    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", raw[16:29])
    ch = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or not ch or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d)" % (depth, ctype))
    pos, idat = 8, b""
    while pos + 8 <= len(raw):
        n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        if kind == b"IDAT":
            idat += raw[pos + 8:pos + 8 + n]
        pos += 12 + n
    data, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        f = data[y * (stride + 1)]
        row = bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(row)
        prev = row
    return w, h, ch, rows


def parse_multipart(content_type, body):
    """The parts of a multipart/form-data body: a list of dicts {name, filename, type,
    data}; ValueError when it is not one."""
    import email.parser
    import email.policy

    if not (content_type or "").startswith("multipart/form-data"):
        raise ValueError("Content-Type must be multipart/form-data")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError("not a multipart body")
    parts = []
    for p in msg.iter_parts():
        parts.append({"name": p.get_param("name", header="content-disposition"),
                      "filename": p.get_filename(),
                      "type": p.get_content_type() if p.get("Content-Type") else None,
                      "data": p.get_payload(decode=True) or b""})
    return parts
