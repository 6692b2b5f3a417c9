#!/usr/bin/python3
"""replicate.py - a fake Replicate HTTP API v1 for imagen's tests (stdlib only).

Routes (protocols/replicate.md):
  POST /v1/models/{owner}/{name}/predictions   official models, body {"input": {...}}
  POST /v1/predictions                         body {"version": "...", "input": {...}}
  GET  /v1/predictions                         list, newest first ({"results": [...]})
  GET  /v1/predictions/{id}                    poll (each call counts as one poll)
  POST /v1/predictions/{id}/cancel             cancel (a finished prediction is unchanged)
  GET  /v1/account                             the token check
  GET  /files/{id}/{n}.png                     the output images
  POST /v1/files                               Files API: multipart part `content` (a
                                               file with filename and type), optional
                                               `metadata` (JSON); 201 {id, urls.get, ...}
  GET  /v1/files/{id}                          the file's record
  GET  /v1/files/{id}/download                 its bytes

Each upload is logged as {"method": "NOTE", "path": "/v1/files#file", "filename", "type",
"bytes", "sha256"}.  Each create logs {"method": "NOTE", "path": "/predictions#inputs",
"inputs": {FIELD: {"kind": "data"|"file", "type", "bytes", "sha256", "width", "height",
"white"}}} for every input value that is a data URI or one of its file URLs (white: the
share of white pixels of a grey PNG); a file URL that is not one of its files is a 422.

Every /v1 route wants `Authorization: Bearer <token>` (401 problem JSON otherwise).
`Prefer: wait` / `wait=N` (N 1..60) holds a create until the prediction ends or N
seconds pass (bare `wait` = 60); without it a create answers at once with "starting".
Status goes starting -> processing -> succeeded | failed | canceled.

For black-forest-labs/flux-schnell the input is checked against the model's schema as
Replicate does (unknown keys, enums, ranges -> 422 "Input validation failed"), so a
client sending width/height or negative_prompt there is caught.

Knobs: POST /_fake/data with any of
  processing_ms      time from creation to the end (default 0)
  polls_before_done  GET polls needed before it ends (default 0; a held create then
                     returns "processing" after its wait)
  fail               error text: the prediction ends "failed" with it
  cancel             true: the prediction ends "canceled" (as if canceled elsewhere)
  outputs            number of output URLs (default input.num_outputs, else 1)
  png_size           [w, h] or N for the output PNGs (default: input width/height, or
                     aspect_ratio at 64 px per megapixel side, else 64x64)
  png_noise          true: incompressible pixels (a realistic file size)
  predict_time       metrics.predict_time reported (default 0.5; null: left out)
  string_output      true: output is one URL string instead of an array
  data_url_output    true: outputs are data:image/png;base64 URLs
  expire_files       true: the file URLs answer 404 (data removed)
  logs               logs text (default "Using seed: N" and a progress line)
  token              the only token accepted (default: any non-empty)
Command line: --png-size N (or WxH) and --png-noise set the same defaults, for the
benchmark, which wants an instant answer with a 1024x1024 PNG.
Faults (status, delay, drop, truncate, garbage, hang_up) from fakelib on any route.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402

SCHNELL = "black-forest-labs/flux-schnell"
SCHNELL_SCHEMA = {
    "prompt": ("string", None),
    "seed": ("integer", None),
    "num_outputs": ("integer", (1, 4)),
    "aspect_ratio": ("enum", ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3",
                              "9:16", "9:21"]),
    "output_format": ("enum", ["webp", "jpg", "png"]),
    "output_quality": ("integer", (0, 100)),
    "num_inference_steps": ("integer", (1, 4)),
    "go_fast": ("boolean", None),
    "megapixels": ("enum", ["1", "0.25"]),
    "disable_safety_checker": ("boolean", None),
}
PREFER_RE = re.compile(r"^wait(=([1-9]|[1-5][0-9]|60))?$")

LOCK = threading.RLock()  # view() builds data URLs with it held
PREDICTIONS = {}  # id -> dict
ORDER = []        # ids, oldest first
FILES = {}        # id -> (record, bytes): the Files API
PNG_CACHE = {}
COUNTER = [0]


def now_iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_png(w, h, index, noise):
    key = (w, h, index, noise)
    with LOCK:
        if key in PNG_CACHE:
            return PNG_CACHE[key]
    if noise:
        import struct

        def chunk(kind, data):
            c = struct.pack(">I", len(data)) + kind + data
            return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        raw = b"".join(b"\x00" + os.urandom(w * 3) for _ in range(h))
        png = (b"\x89PNG\r\n\x1a\n"
               + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(raw, 1))
               + chunk(b"IEND", b""))
    else:
        colours = [(200, 80, 40), (40, 160, 90), (60, 90, 200), (220, 200, 40)]
        png = fakelib.png_bytes(w, h, colours[index % len(colours)])
    with LOCK:
        PNG_CACHE[key] = png
    return png


def problem(status, title, detail, **extra):
    d = {"title": title, "detail": detail, "status": status}
    d.update(extra)
    return d


def validate_schnell(inp):
    """422 problem for flux-schnell inputs outside the schema, else None."""
    fields = []
    if "prompt" not in inp:
        fields.append({"type": "required", "field": "input.prompt",
                       "description": "prompt is required"})
    for k, v in inp.items():
        if k not in SCHNELL_SCHEMA:
            fields.append({"type": "additional_property_not_allowed", "field": "input",
                           "description": "Additional property %s is not allowed" % k})
            continue
        kind, rule = SCHNELL_SCHEMA[k]
        ok = True
        if kind == "string":
            ok = isinstance(v, str)
        elif kind == "boolean":
            ok = isinstance(v, bool)
        elif kind == "integer":
            ok = isinstance(v, int) and not isinstance(v, bool)
            if ok and rule:
                if v < rule[0]:
                    fields.append({"type": "number_gte", "field": "input." + k,
                                   "description": "Must be greater than or equal to %d"
                                   % rule[0]})
                elif v > rule[1]:
                    fields.append({"type": "number_lte", "field": "input." + k,
                                   "description": "Must be less than or equal to %d"
                                   % rule[1]})
        elif kind == "enum":
            if v not in rule:
                fields.append({"type": "enum", "field": "input." + k,
                               "description": "%s must be one of the following: %s"
                               % (k, ", ".join('"%s"' % x for x in rule))})
            continue
        if not ok:
            fields.append({"type": "invalid_type", "field": "input." + k,
                           "description": "Invalid type. Expected: %s" % kind})
    if not fields:
        return None
    detail = "".join("- %s: %s\n" % (f["field"], f["description"]) for f in fields)
    return problem(422, "Input validation failed", detail, invalid_fields=fields)


class Handler(fakelib.FakeHandler):
    # --- state ---------------------------------------------------------------
    def knob(self, name, default=None):
        with self.state.lock:
            return self.state.data.get(name, default)

    def advance(self, p, poll=False):
        """Bring p's status up to date (called with LOCK held)."""
        if poll:
            p["polls"] += 1
        if p["status"] in ("succeeded", "failed", "canceled", "aborted"):
            return
        elapsed = time.time() - p["created"]
        if elapsed >= p["processing_s"] and p["polls"] >= p["polls_before_done"]:
            p["completed"] = time.time()
            if p["fail"]:
                p["status"] = "failed"
                p["error"] = p["fail"]
            elif p["cancel"]:
                p["status"] = "canceled"
            else:
                p["status"] = "succeeded"
            return
        if p["status"] == "starting" and (p["polls"] > 0 or elapsed >= p["processing_s"] / 3):
            p["status"] = "processing"
            p["started"] = time.time()

    def view(self, p):
        """The prediction object as Replicate shows it."""
        base = self.base_url()
        done = p["status"] in ("succeeded", "failed", "canceled", "aborted")
        out = None
        if p["status"] == "succeeded" and not p["data_removed"]:
            if p["data_url"]:
                out = ["data:image/png;base64," + base64.b64encode(
                    make_png(p["w"], p["h"], n, p["noise"])).decode()
                    for n in range(p["outputs"])]
            else:
                out = ["%s/files/%s/%d.png" % (base, p["id"], n) for n in range(p["outputs"])]
            if p["string_output"]:
                out = out[0] if out else None
        metrics = {}
        if done:
            if p["predict_time"] is not None and p["status"] == "succeeded":
                metrics["predict_time"] = p["predict_time"]
            metrics["total_time"] = round(p["completed"] - p["created"], 3)
        return {
            "id": p["id"],
            "model": p["model"],
            "version": p["version"],
            "input": p["input"],
            "logs": p["logs"] if p["status"] != "starting" else "",
            "output": out,
            "data_removed": p["data_removed"],
            "error": p["error"],
            "status": p["status"],
            "source": "api",
            "created_at": now_iso(p["created"]),
            "started_at": now_iso(p["started"]) if p.get("started") else None,
            "completed_at": now_iso(p["completed"]) if done else None,
            "metrics": metrics,
            "urls": {
                "web": "https://replicate.com/p/" + p["id"],
                "get": "%s/v1/predictions/%s" % (base, p["id"]),
                "cancel": "%s/v1/predictions/%s/cancel" % (base, p["id"]),
            },
        }

    # --- auth ----------------------------------------------------------------
    def authorized(self):
        h = self.headers.get("Authorization") or ""
        want = self.knob("token")
        if not h.startswith("Bearer ") or not h[7:].strip() or (want and h[7:] != want):
            self.reply_json(401, problem(401, "Unauthenticated",
                                         "You did not pass a valid authentication token"))
            return False
        return True

    # --- routes --------------------------------------------------------------
    def route_POST(self):
        path = self.route
        if not path.startswith("/v1/"):
            return self.reply_json(404, problem(404, "Not found", "Not found"))
        if not self.authorized():
            return
        m = re.match(r"^/v1/predictions/([^/]+)/cancel$", path)
        if m:
            return self.cancel(m.group(1))
        m = re.match(r"^/v1/models/([^/]+)/([^/]+)/predictions$", path)
        if m:
            return self.create("%s/%s" % (m.group(1), m.group(2)), None, official=True)
        if path == "/v1/predictions":
            return self.create(None, None, official=False)
        if path == "/v1/files":
            return self.upload()
        return self.reply_json(404, problem(404, "Not found", "Not found"))

    def upload(self):
        try:
            parts = fakelib.parse_multipart(self.headers.get("Content-Type"), self.body)
        except ValueError as e:
            return self.reply_json(400, problem(400, "Bad request", str(e)))
        content = [p for p in parts if p["name"] == "content" and p["filename"]]
        if len(content) != 1:
            return self.reply_json(400, problem(400, "Bad request",
                                                "content: exactly one file part is required"))
        c = content[0]
        meta = next((p["data"] for p in parts if p["name"] == "metadata"), None)
        with LOCK:
            COUNTER[0] += 1
            fid = "file%06d" % COUNTER[0]
        url = "%s/v1/files/%s" % (self.base_url(), fid)
        rec = {"id": fid, "checksums": {"sha256": hashlib.sha256(c["data"]).hexdigest()},
               "content_type": c["type"] or "application/octet-stream",
               "created_at": now_iso(time.time()),
               "expires_at": now_iso(time.time() + 86400),
               "metadata": json.loads(meta) if meta else {}, "size": len(c["data"]),
               "urls": {"get": url}}
        with LOCK:
            FILES[fid] = (rec, c["data"])
        self.state.log({"method": "NOTE", "path": "/v1/files#file", "time": time.time(),
                        "filename": c["filename"], "type": c["type"], "bytes": len(c["data"]),
                        "sha256": rec["checksums"]["sha256"]})
        return self.reply_json(201, rec)

    def input_notes(self, inp):
        """What each data URI or file URL of the input holds; an error text for a file URL
        that is not ours."""
        notes, prefix = {}, "%s/v1/files/" % self.base_url()
        for k, v in inp.items():
            if not isinstance(v, str):
                continue
            if v.startswith("data:"):
                head, _, b64 = v.partition(",")
                data, note = base64.b64decode(b64), {"kind": "data", "type": head[5:].split(";")[0]}
            elif v.startswith(prefix):
                with LOCK:
                    f = FILES.get(v[len(prefix):])
                if not f:
                    return None, "- input.%s: file not found: %s\n" % (k, v)
                data, note = f[1], {"kind": "file", "type": f[0]["content_type"]}
            else:
                continue
            note.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            try:
                w, h, ch, rows = fakelib.png_pixels(data)
                note.update(width=w, height=h)
                if ch == 1:
                    note["white"] = sum(r.count(255) for r in rows) / float(w * h)
            except ValueError:
                pass
            notes[k] = note
        return notes, None

    def route_GET(self):
        path = self.route
        m = re.match(r"^/files/([^/]+)/(\d+)\.png$", path)
        if m:
            return self.file(m.group(1), int(m.group(2)))
        if not path.startswith("/v1/"):
            return self.reply_json(404, problem(404, "Not found", "Not found"))
        if not self.authorized():
            return
        m = re.match(r"^/v1/files/([^/]+)(/download)?$", path)
        if m:
            with LOCK:
                f = FILES.get(m.group(1))
            if not f:
                return self.reply_json(404, problem(404, "Not found", "File not found"))
            if m.group(2):
                return self.reply(200, f[1], f[0]["content_type"])
            return self.reply_json(200, f[0])
        if path == "/v1/account":
            return self.reply_json(200, {"type": "user", "username": "fake", "name": "Fake",
                                         "github_url": None, "avatar_url": None})
        if path == "/v1/predictions":
            with LOCK:
                for p in PREDICTIONS.values():
                    self.advance(p)
                items = [self.view(PREDICTIONS[i]) for i in reversed(ORDER)]
            return self.reply_json(200, {"next": None, "previous": None, "results": items[:100]})
        m = re.match(r"^/v1/predictions/([^/]+)$", path)
        if m:
            with LOCK:
                p = PREDICTIONS.get(m.group(1))
                if p:
                    self.advance(p, poll=True)
                    v = self.view(p)
            if not p:
                return self.reply_json(404, problem(404, "Not found",
                                                    "Prediction not found"))
            return self.reply_json(200, v)
        return self.reply_json(404, problem(404, "Not found", "Not found"))

    def create(self, model, version, official):
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return self.reply_json(422, problem(422, "Input validation failed",
                                                "- input: input is required\n"))
        allowed = {"input", "webhook", "webhook_events_filter", "stream"}
        if not official:
            allowed.add("version")
        extra = [k for k in body if k not in allowed]
        if extra:
            return self.reply_json(422, problem(
                422, "Input validation failed",
                "- (root): Additional property %s is not allowed\n" % extra[0]))
        if not official:
            v = body.get("version")
            if not isinstance(v, str) or not v:
                return self.reply_json(422, problem(422, "Input validation failed",
                                                    "- version: version is required\n"))
            if ":" in v:
                model, version = v.split(":", 1)
            elif "/" in v:
                model, version = v, "hidden"
            else:
                model, version = "fake/versioned-model", v
        else:
            version = "hidden"
        prefer = self.headers.get("Prefer")
        if prefer is not None and not PREFER_RE.match(prefer.strip()):
            return self.reply_json(422, problem(
                422, "Invalid Prefer header",
                "Prefer header must be of the form wait or wait=N (1-60)"))
        inp = body["input"]
        notes, bad = self.input_notes(inp)
        if bad:
            return self.reply_json(422, problem(422, "Input validation failed", bad))
        if notes:
            self.state.log({"method": "NOTE", "path": "/predictions#inputs", "time": time.time(),
                            "inputs": notes})
        if model == SCHNELL:
            bad = validate_schnell(inp)
            if bad:
                return self.reply_json(422, bad)

        d = self.state.data
        with self.state.lock:
            knobs = dict(d)
        outputs = knobs.get("outputs")
        if outputs is None:
            outputs = inp.get("num_outputs", 1) if isinstance(inp.get("num_outputs"), int) else 1
        w, h = self.png_size(knobs, inp)
        seed = inp.get("seed")
        with LOCK:
            COUNTER[0] += 1
            pid = "fake%06d%s" % (COUNTER[0], os.urandom(4).hex())
            p = {
                "id": pid, "model": model, "version": version, "input": inp,
                "created": time.time(), "status": "starting", "polls": 0,
                "processing_s": float(knobs.get("processing_ms", 0)) / 1000.0,
                "polls_before_done": int(knobs.get("polls_before_done", 0)),
                "fail": knobs.get("fail"), "cancel": bool(knobs.get("cancel")),
                "outputs": int(outputs), "w": w, "h": h,
                "noise": bool(knobs.get("png_noise")),
                "predict_time": knobs.get("predict_time", 0.5),
                "string_output": bool(knobs.get("string_output")),
                "data_url": bool(knobs.get("data_url_output")),
                "data_removed": False, "error": None,
                "logs": knobs.get("logs", "Using seed: %s\ngenerating %d image(s)\n"
                                  % (seed, int(outputs))),
            }
            PREDICTIONS[pid] = p
            ORDER.append(pid)
        if prefer is not None:
            m = PREFER_RE.match(prefer.strip())
            limit = int(m.group(2)) if m.group(2) else 60
            end = time.time() + limit
            while True:
                with LOCK:
                    self.advance(p)
                    st = p["status"]
                if st in ("succeeded", "failed", "canceled", "aborted") or time.time() >= end:
                    break
                time.sleep(0.01)
        with LOCK:
            self.advance(p)
            v = self.view(p)
        try:
            self.reply_json(201, v, {"Location": v["urls"]["get"]})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def cancel(self, pid):
        with LOCK:
            p = PREDICTIONS.get(pid)
            if p:
                self.advance(p)
                if p["status"] in ("starting", "processing"):
                    p["status"] = "canceled"
                    p["completed"] = time.time()
                v = self.view(p)
        if not p:
            return self.reply_json(404, problem(404, "Not found", "Prediction not found"))
        return self.reply_json(200, v)

    def file(self, pid, n):
        with LOCK:
            p = PREDICTIONS.get(pid)
        if not p or n >= p["outputs"] or p["status"] != "succeeded" or self.knob("expire_files"):
            return self.reply_json(404, problem(404, "Not found", "File not found"))
        self.reply(200, make_png(p["w"], p["h"], n, p["noise"]), "image/png")

    @staticmethod
    def png_size(knobs, inp):
        size = knobs.get("png_size")
        if isinstance(size, int):
            return size, size
        if isinstance(size, list) and len(size) == 2:
            return int(size[0]), int(size[1])
        w, h = inp.get("width"), inp.get("height")
        if isinstance(w, int) and isinstance(h, int) and 0 < w <= 4096 and 0 < h <= 4096:
            return w, h
        ar = inp.get("aspect_ratio")
        if isinstance(ar, str) and re.match(r"^\d+:\d+$", ar):
            a, b = (int(x) for x in ar.split(":"))
            if a and b:
                return int(round(64 * (a / b) ** 0.5)), int(round(64 * (b / a) ** 0.5))
        return 64, 64


def main():
    ap = fakelib.arg_parser("fake Replicate HTTP API v1")
    ap.add_argument("--png-size", help="output PNG size: N or WxH (default from the input)")
    ap.add_argument("--png-noise", action="store_true", help="incompressible output pixels")
    args = ap.parse_args()

    def setup(srv, state):
        if args.png_size:
            parts = args.png_size.lower().split("x")
            w = int(parts[0])
            h = int(parts[1]) if len(parts) > 1 else w
            state.data["png_size"] = [w, h]
            make_png(w, h, 0, args.png_noise)  # ready before the first request
        if args.png_noise:
            state.data["png_noise"] = True

    fakelib.serve(Handler, args, setup)


if __name__ == "__main__":
    main()
