#!/usr/bin/python3
"""a1111.py - a fake AUTOMATIC1111 / Forge WebUI API for imagen's tests.

Speaks the routes the a1111 adapter uses (../shared/protocols/a1111.md):

  POST /sdapi/v1/txt2img    blocks for the generation time, then answers
                            {"images": [base64 PNG, ...], "parameters": {...},
                             "info": "<JSON-encoded string>"}
                            One real PNG of the requested size per image (batch_size x
                            n_iter), each carrying A1111's own `parameters` tEXt chunk;
                            with more than one image and save_images true a grid is
                            prepended, as A1111 does (info.index_of_first_image = 1).
                            seed -1 -> a random seed, reported in info.
  GET  /sdapi/v1/progress   progress / eta_relative / state.sampling_step(s), ramping
                            while a txt2img runs; the idle shape otherwise.
  POST /sdapi/v1/img2img    the same answer for an edit: init_images (a list of base64
                            images, a data: prefix stripped; none -> 404 "Init image not
                            found"; more than batch_size -> 500 RuntimeError; bad data ->
                            500 "Invalid encoded image"), denoising_strength, mask (a
                            base64 PNG), mask_blur, inpainting_fill, ...  The log entry
                            gains "decoded": [{"role", "format", "width", "height",
                            "bytes"}] for what arrived, and "mask_white" (the share of
                            white mask pixels) for a grey mask.
  POST /sdapi/v1/interrupt  {}; the running txt2img returns at once with what it has.
  GET  /sdapi/v1/options    a few options (sd_model_checkpoint, samples_format).

Request bodies are type-checked like A1111's pydantic model: a wrong type gets
FastAPI's 422 {"detail": [{"loc": [...], "msg": ..., "type": ...}]}.

--auth USER:PASS turns on HTTP Basic auth on every /sdapi/v1/ route (401 with
A1111's error shape and WWW-Authenticate: Basic otherwise).
--gen-ms N sets the generation time (default 0).

Per-test knobs (POST /_fake/data, JSON object, merged):
  gen_ms         generation time in ms
  seed_override  the upstream uses this seed instead of the requested one
  info           "ok" (default) | "malformed" (info is not JSON) | "missing" |
                 "object" (info sent as an object instead of a string)
  image          "ok" (default) | "not_png" | "truncated" | "bad_base64" |
                 "trailing" (bytes after IEND) | "jpeg" (a real 16x16 JPEG)
  images_short   return this many images fewer than asked
  grid           true / false: always / never prepend a grid to a batch
                 (default: when save_images is true, as A1111)
  upstream_text  false: no `parameters` chunk in the PNGs
Plus every fault of fakelib (status, delay, drop, truncate, garbage, hang_up).
"""

import base64
import json
import random
import struct
import sys
import threading
import time
import zlib

sys.path.insert(0, __import__("os").path.dirname(__file__))
import fakelib  # noqa: E402

VERSION = "v1.10.1"
MODEL_NAME = "sd15"
MODEL_HASH = "6ce0161689"


def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_text(w, h, rgb, text):
    """A real PNG with a `parameters` chunk after IHDR (tEXt, or iTXt when not Latin-1)."""
    png = fakelib.png_bytes(w, h, rgb)
    if text is None:
        return png
    try:
        data = b"parameters\x00" + text.encode("latin-1")
        c = chunk(b"tEXt", data)
    except UnicodeEncodeError:
        c = chunk(b"iTXt", b"parameters\x00\x00\x00\x00\x00" + text.encode("utf-8"))
    return png[:33] + c + png[33:]


def infotext(p, seed):
    lines = [p["prompt"]]
    if p["negative_prompt"]:
        lines.append("Negative prompt: " + p["negative_prompt"])
    params = "Steps: %d, Sampler: %s, Schedule type: %s, CFG scale: %s, Seed: %d, " \
             "Size: %dx%d, Model hash: %s, Model: %s, Version: %s" % (
                 p["steps"], p["sampler_name"], p["scheduler"] or "Automatic",
                 fmt_num(p["cfg_scale"]), seed, p["width"], p["height"], MODEL_HASH,
                 model_name(p), VERSION)
    lines.append(params)
    return "\n".join(lines)


def fmt_num(v):
    return str(int(v)) if float(v) == int(v) else str(v)


def model_name(p):
    ck = (p.get("override_settings") or {}).get("sd_model_checkpoint")
    if ck:
        return ck.split(".")[0]
    return MODEL_NAME


# the request model: field -> (accepted python types, default)
FIELDS = {
    "prompt": ((str,), ""),
    "negative_prompt": ((str,), ""),
    "seed": ((int,), -1),
    "subseed": ((int,), -1),
    "subseed_strength": ((int, float), 0),
    "sampler_name": ((str, type(None)), "Euler"),
    "scheduler": ((str, type(None)), None),
    "steps": ((int,), 50),
    "cfg_scale": ((int, float), 7.0),
    "width": ((int,), 512),
    "height": ((int,), 512),
    "batch_size": ((int,), 1),
    "n_iter": ((int,), 1),
    "override_settings": ((dict, type(None)), None),
    "override_settings_restore_afterwards": ((bool,), True),
    "send_images": ((bool,), True),
    "save_images": ((bool,), False),
    # img2img
    "init_images": ((list,), None),
    "denoising_strength": ((int, float), 0.75),
    "mask": ((str, type(None)), None),
    "mask_blur": ((int, type(None)), None),
    "inpainting_fill": ((int,), 0),
    "inpaint_full_res": ((bool, int), True),
    "inpaint_full_res_padding": ((int,), 0),
    "inpainting_mask_invert": ((int,), 0),
    "resize_mode": ((int,), 0),
    "include_init_images": ((bool,), False),
}


def decode_image(s):
    """base64 (or a data: URL) -> (format, width, height, bytes, raw); ValueError."""
    if s.startswith("data:image/"):
        s = s.split(";base64,", 1)[1]
    raw = base64.b64decode(s, validate=True)
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = struct.unpack(">II", raw[16:24])
        return "png", w, h, len(raw), raw
    if raw[:2] == b"\xff\xd8":
        return "jpeg", 0, 0, len(raw), raw
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "webp", 0, 0, len(raw), raw
    raise ValueError("not an image")


def png_grey_pixels(raw):
    """The pixels of an 8-bit grey PNG as one flat list, or None for another kind."""
    w, h, ch, rows = fakelib.png_pixels(raw)
    return [v for r in rows for v in r] if ch == 1 else None


def validate(body):
    """FastAPI/pydantic-style 422 details, or []."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
    errs = []
    for k, (types, _) in FIELDS.items():
        if k not in body:
            continue
        v = body[k]
        # pydantic would coerce "20" to 20; a strict fake catches clients sending strings
        if isinstance(v, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(v, types)
        if not ok:
            t = types[0].__name__
            errs.append({"loc": ["body", k], "msg": "value is not a valid %s" %
                         {"str": "string", "int": "integer", "dict": "dict",
                          "bool": "boolean"}.get(t, t),
                         "type": "type_error.%s" % t})
    return errs


class Handler(fakelib.FakeHandler):
    # shared between threads: the running job (A1111 runs one at a time)
    queue_lock = threading.Lock()
    job_lock = threading.Lock()
    job = None  # {"start", "duration", "steps", "interrupted": Event}

    def knob(self, name, default=None):
        with self.state.lock:
            return self.state.data.get(name, default)

    def auth_ok(self):
        want = self.server.auth
        if not want:
            return True
        got = self.headers.get("Authorization") or ""
        if got.startswith("Basic "):
            try:
                if base64.b64decode(got[6:]).decode() == want:
                    return True
            except Exception:
                pass
        self.reply_json(401, {"error": "HTTPException",
                              "detail": "Incorrect username or password", "body": "",
                              "errors": "401: Incorrect username or password"},
                        {"WWW-Authenticate": "Basic"})
        return False

    # --- routes -------------------------------------------------------------
    def route_GET(self):
        if not self.route.startswith("/sdapi/v1/"):
            return self.reply_json(404, {"detail": "Not Found"})
        if not self.auth_ok():
            return
        if self.route == "/sdapi/v1/progress":
            return self.progress()
        if self.route == "/sdapi/v1/options":
            return self.reply_json(200, {"sd_model_checkpoint": "sd15.safetensors [6ce0161689]",
                                         "samples_format": "png"})
        return self.reply_json(404, {"detail": "Not Found"})

    def route_POST(self):
        if not self.route.startswith("/sdapi/v1/"):
            return self.reply_json(404, {"detail": "Not Found"})
        if not self.auth_ok():
            return
        if self.route == "/sdapi/v1/txt2img":
            return self.txt2img()
        if self.route == "/sdapi/v1/img2img":
            return self.txt2img(img2img=True)
        if self.route == "/sdapi/v1/interrupt":
            with Handler.job_lock:
                if Handler.job:
                    Handler.job["interrupted"].set()
            return self.reply_json(200, {})
        return self.reply_json(404, {"detail": "Not Found"})

    def progress(self):
        with Handler.job_lock:
            job = Handler.job
            if not job:
                return self.reply_json(200, {
                    "progress": 0.0, "eta_relative": 0.0,
                    "state": {"skipped": False, "interrupted": False, "job": "",
                              "job_count": 0, "job_timestamp": "0", "job_no": 0,
                              "sampling_step": 0, "sampling_steps": 0},
                    "current_image": None, "textinfo": None})
            elapsed = time.time() - job["start"]
            frac = min(elapsed / job["duration"], 1.0) if job["duration"] > 0 else 1.0
            step = int(frac * job["steps"])
            eta = max(job["duration"] - elapsed, 0.0)
            interrupted = job["interrupted"].is_set()
        return self.reply_json(200, {
            "progress": round(frac, 3), "eta_relative": round(eta, 2),
            "state": {"skipped": False, "interrupted": interrupted,
                      "job": "scripts_txt2img", "job_count": 1,
                      "job_timestamp": "20250601101500", "job_no": 0,
                      "sampling_step": step, "sampling_steps": job["steps"]},
            "current_image": None, "textinfo": None})

    def check_inputs(self, body):
        """A1111's checks of an img2img body; False when an error was answered."""
        init = body.get("init_images") or []
        if not init:
            self.reply_json(404, {"error": "HTTPException", "detail": "Init image not found",
                                  "body": "", "errors": "404: Init image not found"})
            return False
        if len(init) > max(body.get("batch_size", 1), 1):
            self.reply_json(500, {"error": "RuntimeError", "detail": "", "body": "",
                                  "errors": "bad number of images passed: %d; expecting %d "
                                  "or less" % (len(init), body.get("batch_size", 1))})
            return False
        decoded = []
        try:
            for i in init:
                decoded.append(("image",) + decode_image(i))
            if body.get("mask"):
                decoded.append(("mask",) + decode_image(body["mask"]))
        except Exception:
            self.reply_json(500, {"error": "HTTPException", "detail": "Invalid encoded image",
                                  "body": "", "errors": "500: Invalid encoded image"})
            return False
        entry = {"decoded": [{"role": d[0], "format": d[1], "width": d[2], "height": d[3],
                              "bytes": d[4]} for d in decoded]}
        for d in decoded:
            if d[0] == "mask" and d[1] == "png":
                px = png_grey_pixels(d[5])
                if px is not None:
                    entry["mask_white"] = round(sum(1 for v in px if v > 127) / len(px), 3)
        self.state.log(dict(entry, path="/sdapi/v1/img2img#inputs", method="NOTE"))
        return True

    def txt2img(self, img2img=False):
        body = self.json_body()
        if body is None:
            return self.reply_json(422, {"detail": [{"loc": ["body"], "msg": "invalid JSON",
                                                     "type": "value_error.jsondecode"}]})
        errs = validate(body)
        if errs:
            return self.reply_json(422, {"detail": errs})
        if img2img and not self.check_inputs(body):
            return
        p = {k: body.get(k, d) for k, (_, d) in FIELDS.items()}
        for k, v in body.items():
            p.setdefault(k, v)  # unknown keys: echoed, otherwise ignored (like pydantic)

        with Handler.queue_lock:
            gen_ms = self.knob("gen_ms", self.server.gen_ms)
            job = {"start": time.time(), "duration": gen_ms / 1000.0,
                   "steps": p["steps"], "interrupted": threading.Event()}
            with Handler.job_lock:
                Handler.job = job
            try:
                interrupted = job["interrupted"].wait(gen_ms / 1000.0) if gen_ms else False
            finally:
                with Handler.job_lock:
                    Handler.job = None
            return self.answer(p, interrupted)

    def answer(self, p, interrupted):
        seed = p["seed"]
        if self.knob("seed_override") is not None:
            seed = int(self.knob("seed_override"))
        elif seed == -1:
            seed = random.randrange(4294967294)
        n = max(p["batch_size"], 1) * max(p["n_iter"], 1)
        n = max(n - int(self.knob("images_short", 0)), 0)
        seeds = [seed + i for i in range(n)]
        subseeds = [(seed * 7 + 13 + i) % 4294967294 for i in range(n)]
        w, h = p["width"] // 8 * 8, p["height"] // 8 * 8
        texts = [infotext(p, s) for s in seeds]
        with_text = self.knob("upstream_text", True)
        pngs = [png_with_text(w, h, ((s * 37) % 256, (s * 91) % 256, (s * 53) % 256),
                              t if with_text else None) for s, t in zip(seeds, texts)]
        first = 0
        # A1111 builds the grid only when it may save one: the API sets do_not_save_grid
        # to `not save_images`; the knob forces it (forks, other versions)
        grid = self.knob("grid")
        if grid is None:
            grid = p["save_images"]
        if n > 1 and grid:
            grid_text = texts[0]
            pngs.insert(0, png_with_text(w * min(n, 4), h * ((n + 3) // 4), (0, 0, 0),
                                         grid_text if with_text else None))
            texts.insert(0, grid_text)
            first = 1
        mode = self.knob("image", "ok")
        if mode == "not_png":
            pngs = [b"GIF89a this is not a png" for _ in pngs]
        elif mode == "truncated":
            pngs = [b[: len(b) // 2] for b in pngs]
        elif mode == "trailing":
            pngs = [b + b"\x00\x00trailing junk" for b in pngs]
        elif mode == "jpeg":
            pngs = [fakelib.JPEG_16 for _ in pngs]
        images = [base64.b64encode(b).decode() for b in pngs]
        if mode == "bad_base64":
            images = ["!!not base64!!" + i[14:] for i in images]
        info = {
            "prompt": p["prompt"], "all_prompts": [p["prompt"]] * n,
            "negative_prompt": p["negative_prompt"],
            "all_negative_prompts": [p["negative_prompt"]] * n,
            "seed": seed, "all_seeds": seeds, "subseed": subseeds[0] if n else -1,
            "all_subseeds": subseeds, "subseed_strength": p["subseed_strength"],
            "width": w, "height": h, "sampler_name": p["sampler_name"],
            "cfg_scale": p["cfg_scale"], "steps": p["steps"], "batch_size": p["batch_size"],
            "restore_faces": False, "face_restoration_model": None,
            "sd_model_name": model_name(p), "sd_model_hash": MODEL_HASH,
            "sd_vae_name": None, "sd_vae_hash": None, "seed_resize_from_w": -1,
            "seed_resize_from_h": -1,
            "denoising_strength": p["denoising_strength"] if p.get("init_images") else None,
            "extra_generation_params": {"Schedule type": p["scheduler"] or "Automatic"},
            "index_of_first_image": first, "infotexts": texts, "styles": [],
            "job_timestamp": "20250601101500", "clip_skip": 1,
            "is_using_inpainting_conditioning": False, "version": VERSION,
        }
        if interrupted:
            info["interrupted"] = True
        if not p.get("include_init_images"):
            p = dict(p, init_images=None, mask=None)  # as A1111 echoes them
        out = {"images": images, "parameters": p}
        im = self.knob("info", "ok")
        if im == "malformed":
            out["info"] = "{\"prompt\": \"unterminated"
        elif im == "object":
            out["info"] = info
        elif im != "missing":
            out["info"] = json.dumps(info)
        self.reply_json(200, out, {"X-Process-Time": "%.4f" % (time.time() % 10)})


def main():
    ap = fakelib.arg_parser("fake AUTOMATIC1111 WebUI API")
    ap.add_argument("--auth", default="", help="USER:PASS for HTTP Basic auth")
    ap.add_argument("--gen-ms", type=int, default=0, help="generation time in ms")
    args = ap.parse_args()

    def setup(srv, state):
        srv.auth = args.auth
        srv.gen_ms = args.gen_ms

    fakelib.serve(Handler, args, setup)


if __name__ == "__main__":
    main()
