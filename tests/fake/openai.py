#!/usr/bin/python3
"""openai.py - a fake OpenAI Images API for imagen's tests and benchmark.

Speaks what the openai adapter uses (../shared/protocols/openai-images.md):

  POST /v1/images/generations   (any path ending in /images/generations)
      Requires "Authorization: Bearer <key>" (401 invalid_api_key otherwise; with the
      knob api_key, the key must match).  Validates the body like the real API:
      prompt and model strings, n 1..10 (dall-e-3: 1), size per model family,
      output_format/background/moderation/output_compression only for GPT image
      models, response_format/style only for DALL-E: 400 invalid_request_error with
      `param` set.  A prompt holding the moderation word gets the 400
      moderation_blocked (GPT image) / content_policy_violation (DALL-E) body.
      Answers {"created", "data": [...], and for GPT image models "usage" (output
      tokens from the quality/size table of section 6) plus the echoes "size",
      "quality", "output_format", "background"}.  data[i] holds b64_json (GPT image
      always; DALL-E with response_format b64_json) or url (DALL-E default), and
      revised_prompt for dall-e-3.  Images are real PNGs of the requested size
      ("auto" = 1024x1024), one colour per index; output_format jpeg / webp give a
      real 16x16 JPEG / WebP.
  POST /v1/images/edits   (any path ending in /images/edits)
      multipart/form-data only (400 otherwise), the same text fields as a generation
      plus files: `image` (one) or repeated `image[]`, and `mask`.  dall-e-2: exactly
      one square PNG under 4 MB; GPT image models: 1..16 PNG/JPEG/WebP images under
      50 MB; dall-e-3: 400 (no edits).  The mask must be a PNG with an alpha channel,
      the size of the first image.  The log entry gains "parts": [{"name",
      "filename", "type", "bytes", "width", "height", "value"}] for every part (value:
      a text part's) and, with a
      mask, "mask_transparent": the share of its pixels with alpha 0.
  GET  /files/<name>?se=...&sig=...    the images handed out as url (signed-link shape).
  GET  /v1/models                       the model list (the key is checked as above):
                                        what `imagen backends --check` asks.

Answers are instant (images are built once per size and cached), so the benchmark
can measure the client alone, unless a latency is asked for: --latency-ms N (or the
knob latency_ms) holds every generation request N ms before answering, like a real
upstream busy generating; concurrent requests are held side by side, and each log
entry's in_flight (fakelib) shows how many were held at once.

Per-test knobs (POST /_fake/data, JSON object, merged):
  api_key          the only key accepted
  response         "b64_json" | "url": force the image transport for any model
  usage            false: no usage block; an object: this usage block
  revised_prompt   a string: every data[i] carries it (any model)
  image            "ok" (default) | "noise" (incompressible pixels, a realistic ~3 MiB
                   PNG at 1024x1024) | "not_png" | "truncated_b64" (base64 cut short)
                   | "truncated_png" (valid base64 of a PNG cut short)
  images_short     return this many images fewer than asked
  sizes            the sizes accepted instead of the model family's (["640x480"])
  moderation_word  the trigger word (default "forbidden-fruit")
  latency_ms       hold each generation request this long before answering
  fail             a list of errors answered first, one per request, each
                   {"status": 429, "code": "rate_limit_exceeded", "type": ...,
                    "message": ..., "param": ..., "retry_after": 1}
Plus every fault of fakelib (status, delay, drop, truncate, garbage, hang_up).
Command line: --image noise sets the image knob's default (the benchmark's realistic
1024x1024 PNG); the 1024x1024 image is built before the port file appears.
"""

import base64
import json
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import fakelib  # noqa: E402

# A real 16x16 JPEG and WebP (libjpeg-turbo and libwebp output), for output_format.
JPEG_16 = fakelib.JPEG_16
WEBP_16 = fakelib.WEBP_16

COLOURS = [(200, 80, 40), (40, 120, 200), (60, 170, 90), (220, 190, 60), (150, 70, 170)]

# Output image tokens of the GPT image 1 family (protocol notes section 6).
OUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}

GPT_SIZES = ["1024x1024", "1536x1024", "1024x1536", "auto"]
DALLE2_SIZES = ["256x256", "512x512", "1024x1024"]
DALLE3_SIZES = ["1024x1024", "1792x1024", "1024x1792"]

_cache = {}
_cache_lock = threading.Lock()
_files = {}


def family(model):
    if model.startswith("dall-e-2"):
        return "dall-e-2"
    if model.startswith("dall-e-3"):
        return "dall-e-3"
    if model.startswith("gpt-image-2"):
        return "gpt-image-2"
    return "gpt-image"


def noise_png(w, h):
    import zlib
    import struct

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rnd = os.urandom(w * h * 3)
    row = w * 3
    raw = b"".join(b"\x00" + rnd[y * row:(y + 1) * row] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1))
            + chunk(b"IEND", b""))


def image_bytes(kind, fmt, w, h, index):
    """(bytes, base64 text) of one image, cached."""
    key = (kind, fmt, w, h, index % len(COLOURS) if kind != "noise" else 0)
    with _cache_lock:
        hit = _cache.get(key)
    if hit:
        return hit
    if fmt == "jpeg":
        data = JPEG_16
    elif fmt == "webp":
        data = WEBP_16
    elif kind == "noise":
        data = noise_png(w, h)
    else:
        data = fakelib.png_bytes(w, h, COLOURS[index % len(COLOURS)])
    val = (data, base64.b64encode(data))
    with _cache_lock:
        _cache[key] = val
    return val


def error_body(message, etype="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


class Handler(fakelib.FakeHandler):
    def knobs(self):
        with self.state.lock:
            return dict(self.state.data)

    def take_fail(self):
        with self.state.lock:
            fails = self.state.data.get("fail") or []
            if not fails:
                return None
            f = fails.pop(0)
            self.state.data["fail"] = fails
            return f

    def bad(self, message, param=None, code="invalid_value", status=400):
        self.reply_json(status, error_body(message, "invalid_request_error", param, code))

    def key_refused(self, k):
        """Answer 401 and return True unless the request carries an accepted key."""
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip() or \
                ("api_key" in k and auth[7:] != k["api_key"]):
            self.reply_json(401, error_body(
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error", None, "invalid_api_key"))
            return True
        return False

    def route_GET(self):
        if self.route.endswith("/models"):
            if self.key_refused(self.knobs()):
                return
            return self.reply_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "system"}
                for m in ("gpt-image-1", "gpt-image-1-mini", "dall-e-2", "dall-e-3")]})
        if self.route.startswith("/files/"):
            name = self.route[len("/files/"):]
            with self.state.lock:
                data = _files.get(name)
            if data is None:
                return self.reply_json(404, error_body("no such file", "not_found"))
            ctype = "image/png"
            if data[:3] == b"\xff\xd8\xff":
                ctype = "image/jpeg"
            elif data[:4] == b"RIFF":
                ctype = "image/webp"
            return self.reply(200, data, ctype)
        return self.reply_json(404, error_body("Invalid URL (GET %s)" % self.route))

    def edit_body(self):
        """The fields of a multipart edit as a generation body, after the edit's own
        checks; None when an error was answered."""
        try:
            parts = fakelib.parse_multipart(self.headers.get("Content-Type"), self.body)
        except ValueError as e:
            self.bad(str(e), None, "invalid_request")
            return None
        b, images, mask, note = {}, [], None, []
        for p in parts:
            info = {"name": p["name"], "filename": p["filename"], "type": p["type"],
                    "bytes": len(p["data"])}
            if p["filename"] is None:
                v = info["value"] = p["data"].decode()
                b[p["name"]] = int(v) if p["name"] in ("n", "output_compression") else v
            elif p["name"] in ("image", "image[]"):
                images.append(p)
            elif p["name"] == "mask":
                mask = p
            if p["filename"] is not None and p["data"][:8] == b"\x89PNG\r\n\x1a\n":
                info["width"], info["height"] = struct.unpack(">II", p["data"][16:24])
            note.append(info)
        entry = {"parts": note}
        fam = family(b.get("model") or "")
        if not images:
            return self.bad("Missing required parameter: 'image'.", "image",
                            "missing_required_parameter")
        if fam == "dall-e-3":
            return self.bad("dall-e-3 does not support image edits.", "model")
        if fam == "dall-e-2":
            p = images[0]
            if len(images) > 1 or p["data"][:8] != b"\x89PNG\r\n\x1a\n" or \
                    len(p["data"]) >= 4 << 20 or \
                    p["data"][16:20] != p["data"][20:24]:
                return self.bad("Invalid input image - format must be a square PNG under "
                                "4 MB.", "image")
        elif len(images) > 16:
            return self.bad("Too many images: at most 16.", "image")
        if mask is not None:
            try:
                mw, mh, ch, rows = fakelib.png_pixels(mask["data"])
            except ValueError:
                return self.bad("Invalid mask image: must be a PNG.", "mask")
            if ch not in (2, 4):
                return self.bad("Invalid mask image: it must have an alpha channel.",
                                "mask")
            first = images[0]["data"]
            if first[:8] == b"\x89PNG\r\n\x1a\n" and \
                    struct.unpack(">II", first[16:24]) != (mw, mh):
                return self.bad("Invalid mask: it must be the same size as the image.",
                                "mask")
            alpha = [r[i] for r in rows for i in range(ch - 1, len(r), ch)]
            entry["mask_transparent"] = round(sum(1 for a in alpha if a == 0) / len(alpha), 3)
        self.state.log(dict(entry, path=self.route + "#parts", method="NOTE"))
        return b

    def route_POST(self):
        edit = self.route.endswith("/images/edits")
        if not self.route.endswith("/images/generations") and not edit:
            return self.reply_json(404, error_body("Invalid URL (POST %s)" % self.route))
        k = self.knobs()
        if k.get("latency_ms"):
            time.sleep(k["latency_ms"] / 1000.0)
        if self.key_refused(k):
            return
        f = self.take_fail()
        if f:
            headers = {}
            if "retry_after" in f:
                headers["Retry-After"] = str(f["retry_after"])
            st = f.get("status", 500)
            default_type = {429: "requests", 400: "invalid_request_error"}.get(st, "server_error")
            return self.reply_json(st, error_body(
                f.get("message", "injected error %d" % st), f.get("type", default_type),
                f.get("param"), f.get("code")), headers)
        b = self.edit_body() if edit else self.json_body()
        if edit and b is None:
            return
        if not isinstance(b, dict):
            return self.bad("We could not parse the JSON body of your request.", None,
                            "invalid_json")
        model, prompt = b.get("model"), b.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return self.bad("Missing required parameter: 'prompt'.", "prompt",
                            "missing_required_parameter")
        if not isinstance(model, str) or not model:
            return self.bad("Missing required parameter: 'model'.", "model",
                            "missing_required_parameter")
        fam = family(model)
        gpt = fam.startswith("gpt-image")
        n = b.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > 10:
            return self.bad("Invalid 'n': must be between 1 and 10.", "n")
        if fam == "dall-e-3" and n != 1:
            return self.bad("You must provide n=1 for this model.", "n")
        for key in ("output_format", "background", "moderation", "output_compression"):
            if key in b and not gpt:
                return self.bad("Unknown parameter: '%s'." % key, key, "unknown_parameter")
        for key in ("response_format", "style"):
            if key in b and gpt:
                return self.bad("Unknown parameter: '%s'." % key, key, "unknown_parameter")
        size = b.get("size", "auto" if gpt else "1024x1024")
        if fam == "gpt-image-2":
            ok = size == "auto"
            try:
                w, h = (int(x) for x in size.split("x"))
                ok = ok or (w % 16 == 0 and h % 16 == 0 and max(w, h) <= 3 * min(w, h)
                            and max(w, h) <= 3840 and w * h <= 3840 * 2160)
            except (ValueError, AttributeError):
                pass
        elif k.get("sizes"):
            ok = size in k["sizes"] + ["auto"]
        else:
            ok = size in {"dall-e-2": DALLE2_SIZES, "dall-e-3": DALLE3_SIZES}.get(fam, GPT_SIZES)
        if not ok:
            return self.bad("Invalid value: '%s'. Supported values are: %s." % (
                size, ", ".join("'%s'" % s for s in
                                {"dall-e-2": DALLE2_SIZES, "dall-e-3": DALLE3_SIZES}.get(
                                    fam, GPT_SIZES))), "size")
        quality = b.get("quality", "auto" if gpt else "standard")
        qualities = ["low", "medium", "high", "auto"] if gpt else (
            ["standard", "hd"] if fam == "dall-e-3" else ["standard"])
        if quality not in qualities:
            return self.bad("Invalid value: '%s'. Supported values are: %s." % (
                quality, ", ".join("'%s'" % q for q in qualities)), "quality")
        fmt = b.get("output_format", "png")
        if fmt not in ("png", "jpeg", "webp"):
            return self.bad("Invalid value: '%s'." % fmt, "output_format")
        word = k.get("moderation_word", "forbidden-fruit")
        if word and word in prompt:
            if gpt:
                return self.reply_json(400, error_body(
                    "Your request was rejected by the safety system. If you believe this is "
                    "an error, contact us at help.openai.com.",
                    "image_generation_user_error", None, "moderation_blocked"))
            return self.reply_json(400, error_body(
                "Your request was rejected as a result of our safety system.",
                "invalid_request_error", None, "content_policy_violation"))

        real_size = "1024x1024" if size == "auto" else size
        w, h = (int(x) for x in real_size.split("x"))
        real_quality = "medium" if quality == "auto" else quality
        transport = k.get("response") or (
            "b64_json" if gpt else b.get("response_format", "url"))
        count = max(0, n - int(k.get("images_short", 0)))
        kind = k.get("image", "ok")
        data = []
        blobs = []
        for i in range(count):
            raw, b64 = image_bytes("noise" if kind == "noise" else "ok", fmt, w, h, i)
            if kind == "not_png":
                raw = fakelib.GARBAGE
                b64 = base64.b64encode(raw)
            elif kind == "truncated_b64":
                b64 = b64[: len(b64) // 2 + 1]
            elif kind == "truncated_png":
                raw = raw[: len(raw) // 2]
                b64 = base64.b64encode(raw)
            item = {}
            if transport == "url":
                name = "img-%d-%d.%s" % (int(time.time() * 1000), i, fmt)
                with self.state.lock:
                    _files[name] = raw
                item["url"] = "%s/files/%s?se=2030-01-01&sp=r&sig=FAKE-SIGNATURE-%d" % (
                    self.base_url(), name, i)
            else:
                # spliced into the serialized text below: json.dumps would scan megabytes
                item["b64_json"] = "__B64_%d__" % i
                blobs.append(b64)
            if isinstance(k.get("revised_prompt"), str):
                item["revised_prompt"] = k["revised_prompt"]
            elif fam == "dall-e-3":
                item["revised_prompt"] = "A detailed rendering of " + prompt
            data.append(item)
        out = {"created": int(time.time()), "data": data}
        if gpt:
            bg = b.get("background")
            out.update({"background": bg if bg in ("transparent", "opaque") else "opaque",
                        "output_format": fmt, "quality": real_quality, "size": real_size})
            usage = k.get("usage", True)
            if isinstance(usage, dict):
                out["usage"] = usage
            elif usage:
                words = len(prompt.split())
                per = OUT_TOKENS[real_quality].get(real_size, 1056)
                out["usage"] = {
                    "input_tokens": words,
                    "input_tokens_details": {"text_tokens": words, "image_tokens": 0},
                    "output_tokens": per * n,
                    "output_tokens_details": {"text_tokens": 0, "image_tokens": per * n},
                    "total_tokens": words + per * n,
                }
        text = json.dumps(out).encode()
        for i, b64 in enumerate(blobs):
            text = text.replace(b'"__B64_%d__"' % i, b'"' + b64 + b'"', 1)
        self.reply(200, text, "application/json",
                   {"x-request-id": "req_fake%d" % int(time.time() * 1000)})


def main():
    ap = fakelib.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--image", choices=["ok", "noise"], default="ok",
                    help="default of the image knob (the benchmark uses noise)")
    ap.add_argument("--latency-ms", type=int, default=0,
                    help="default of the latency_ms knob: hold each generation this long")
    args = ap.parse_args()

    def setup(srv, state):
        if args.image != "ok":
            state.data["image"] = args.image
        if args.latency_ms:
            state.data["latency_ms"] = args.latency_ms
        # build the usual answer's image before listening: the first request is instant too
        image_bytes(args.image, "png", 1024, 1024, 0)

    fakelib.serve(Handler, args, setup)


if __name__ == "__main__":
    main()
