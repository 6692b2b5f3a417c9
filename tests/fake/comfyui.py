#!/usr/bin/env python3
"""comfyui.py - a fake ComfyUI server for imagen's tests (stdlib only).

Speaks the wire protocol of ../../../shared/protocols/comfyui.md:

* POST /prompt validates the graph the way ComfyUI's validate_prompt does, enough to
  answer the real 400 shapes: no_prompt, invalid_prompt (missing class_type, unknown
  node class), prompt_no_outputs, prompt_outputs_failed_validation with node_errors
  (required_input_missing, bad_linked_input, return_type_mismatch, invalid_input_type,
  value_smaller_than_min, value_bigger_than_max, value_not_in_list) per node and input.
  A valid graph is queued: 200 {prompt_id, number, node_errors: {}}.
* A worker thread runs the queue one prompt at a time: execution_start,
  execution_cached, executing per node, progress value/max per KSampler step (with a
  binary preview frame each step), executed for SaveImage, execution_success, the
  history entry, then executing {node: null} - in ComfyUI's order (history is written
  after execution_success).  execution_error / execution_interrupted on a fault or an
  interrupt.
* ComfyUI's output cache: a node whose inputs (and everything upstream) equal those of a
  node of the previous prompt is not run again; execution_cached lists it, and a cached
  SaveImage answers with the earlier run's files (in /history too).  Re-queueing an
  identical graph runs nothing and returns the same image.
* GET /ws?clientId= with a real RFC 6455 handshake and frames: text JSON messages
  (the "executed" one fragmented in three frames with a ping between them), binary
  previews, pings; client frames must be masked.  Everything sent and received on a
  socket is logged as {"method": "WS", "event": "send"|"recv", ...}; the worker logs
  {"method": "EVENT", "event": "execution_start"|..., "prompt_id": ...}.
* GET /history/{id} ({} until done), GET /history, GET /view?filename=&subfolder=&type=,
  GET /queue, POST /queue {"delete": [...]} / {"clear": true}, POST /interrupt
  (optional {"prompt_id"}: only that prompt), GET /prompt, GET /system_stats,
  GET /object_info, and the same under /api.
* POST /upload/image (multipart: `image` file part with a filename, `overwrite`, `type`,
  `subfolder`) stores the file among the inputs as ComfyUI does: without overwrite a
  same-named identical file is reused and a different one becomes "name (1).ext";
  answers {name, subfolder, type}.  POST /upload/mask also needs `original_ref` (JSON
  naming an existing file).  Each upload is logged as {"method": "NOTE", "path":
  "/upload/image#file", "name", "bytes", "sha256", "type", "width", "height",
  "white"} (white: the share of white pixels of a grey PNG).  LoadImage and
  LoadImageMask validate like ComfyUI's VALIDATE_INPUTS: the file must exist among the
  uploads ("Invalid image file"); the saved image has the ImageScale's size, else the
  loaded image's.

Knobs (POST /_fake/data, merged):
    "ws": false               refuse the websocket upgrade (404): clients poll /history
    "ws_drop_after": N        close the socket abruptly after N messages
    "ws_garbage": true        send a non-JSON text message before anything else
    "steps_delay_ms": 5       sleep per sampler step
    "execution_error": {...}  fail in the KSampler at step "at_step" (default 1) with
                              exception_type / exception_message from the object
    "images": N               SaveImage saves N files (default: the batch size)
    "foreign_running": true   someone else's prompt runs (forever, until interrupted)
    "ckpts": [...]            the checkpoints models/checkpoints holds
    "ignore_prompt_id": true  make up a prompt_id, as servers before prompt_id did
    "cache": false            no output cache (ComfyUI's --cache-none)
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakelib import FakeHandler, arg_parser, parse_multipart, png_bytes, png_pixels, serve  # noqa: E402

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_RES = 16384
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "ddim", "uni_pc"]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "beta"]
DEFAULT_CKPTS = ["sd15.safetensors", "sdxl_base.safetensors", "flux1-schnell-fp8.safetensors"]


def INT(lo, hi, default=0):
    return ("INT", lo, hi)


def FLOAT(lo, hi):
    return ("FLOAT", lo, hi)


def COMBO(values):
    return ("COMBO", values)


def LINK(t):
    return ("LINK", t)


STRING = ("STRING",)
INPUTFILE = ("INPUTFILE",)

# class -> (required inputs, output types, is output node)
NODES = {
    "CheckpointLoaderSimple": ({"ckpt_name": COMBO("ckpts")}, ["MODEL", "CLIP", "VAE"], False),
    "UNETLoader": ({"unet_name": COMBO(["flux1-schnell.safetensors"]),
                    "weight_dtype": COMBO(["default", "fp8_e4m3fn", "fp8_e5m2"])},
                   ["MODEL"], False),
    "DualCLIPLoader": ({"clip_name1": COMBO(["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"]),
                        "clip_name2": COMBO(["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"]),
                        "type": COMBO(["sdxl", "sd3", "flux"])}, ["CLIP"], False),
    "VAELoader": ({"vae_name": COMBO(["ae.safetensors"])}, ["VAE"], False),
    "LoraLoader": ({"model": LINK("MODEL"), "clip": LINK("CLIP"),
                    "lora_name": COMBO(["detail.safetensors"]),
                    "strength_model": FLOAT(-100, 100), "strength_clip": FLOAT(-100, 100)},
                   ["MODEL", "CLIP"], False),
    "CLIPTextEncode": ({"text": STRING, "clip": LINK("CLIP")}, ["CONDITIONING"], False),
    "CLIPTextEncodeFlux": ({"clip": LINK("CLIP"), "clip_l": STRING, "t5xxl": STRING,
                            "guidance": FLOAT(0, 100)}, ["CONDITIONING"], False),
    "FluxGuidance": ({"conditioning": LINK("CONDITIONING"), "guidance": FLOAT(0, 100)},
                     ["CONDITIONING"], False),
    "ConditioningZeroOut": ({"conditioning": LINK("CONDITIONING")}, ["CONDITIONING"], False),
    "EmptyLatentImage": ({"width": INT(16, MAX_RES), "height": INT(16, MAX_RES),
                          "batch_size": INT(1, 4096)}, ["LATENT"], False),
    "EmptySD3LatentImage": ({"width": INT(16, MAX_RES), "height": INT(16, MAX_RES),
                             "batch_size": INT(1, 4096)}, ["LATENT"], False),
    "KSampler": ({"model": LINK("MODEL"), "seed": INT(0, 0xFFFFFFFFFFFFFFFF),
                  "steps": INT(1, 10000), "cfg": FLOAT(0, 100),
                  "sampler_name": COMBO(SAMPLERS), "scheduler": COMBO(SCHEDULERS),
                  "positive": LINK("CONDITIONING"), "negative": LINK("CONDITIONING"),
                  "latent_image": LINK("LATENT"), "denoise": FLOAT(0, 1)}, ["LATENT"], False),
    "VAEDecode": ({"samples": LINK("LATENT"), "vae": LINK("VAE")}, ["IMAGE"], False),
    "SaveImage": ({"images": LINK("IMAGE"), "filename_prefix": STRING}, [], True),
    "LoadImage": ({"image": INPUTFILE}, ["IMAGE", "MASK"], False),
    "LoadImageMask": ({"image": INPUTFILE, "channel": COMBO(["alpha", "red", "green", "blue"])},
                      ["MASK"], False),
    "ImageScale": ({"image": LINK("IMAGE"),
                    "upscale_method": COMBO(["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]),
                    "width": INT(0, MAX_RES), "height": INT(0, MAX_RES),
                    "crop": COMBO(["disabled", "center"])}, ["IMAGE"], False),
    "VAEEncode": ({"pixels": LINK("IMAGE"), "vae": LINK("VAE")}, ["LATENT"], False),
    "VAEEncodeForInpaint": ({"pixels": LINK("IMAGE"), "vae": LINK("VAE"), "mask": LINK("MASK"),
                             "grow_mask_by": INT(0, 64)}, ["LATENT"], False),
    "SetLatentNoiseMask": ({"samples": LINK("LATENT"), "mask": LINK("MASK")}, ["LATENT"], False),
    "PreviewImage": ({"images": LINK("IMAGE")}, [], True),
}


def now_ms():
    return int(time.time() * 1000)


# --- websocket (server side) ------------------------------------------------------------

def ws_frame(opcode, payload, fin=True):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n <= 0xFFFF:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


class WsConn:
    def __init__(self, handler, client_id):
        self.h = handler
        self.client_id = client_id
        self.lock = threading.Lock()
        self.sent = 0
        self.alive = True

    def _log(self, entry):
        entry.update({"method": "WS", "path": "/ws", "client_id": self.client_id,
                      "time": time.time()})
        self.h.state.log(entry)

    def _raw(self, data):
        with self.lock:
            if not self.alive:
                return False
            try:
                self.h.connection.sendall(data)
                return True
            except OSError:
                self.alive = False
                return False

    def drop(self):
        with self.lock:
            self.alive = False
            try:
                self.h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def send_json(self, obj, fragment=False):
        data = self.h.state.data
        limit = data.get("ws_drop_after")
        if limit is not None and self.sent >= int(limit):
            self._log({"event": "drop", "after": self.sent})
            self.drop()
            return
        self.sent += 1
        text = json.dumps(obj).encode()
        self._log({"event": "send", "type": obj.get("type"), "data": obj.get("data")})
        if fragment and len(text) >= 3:
            a, b = len(text) // 3, 2 * len(text) // 3
            # a ping between the fragments: control frames may be interleaved
            self._raw(ws_frame(0x1, text[:a], fin=False) + ws_frame(0x9, b"are you there")
                      + ws_frame(0x0, text[a:b], fin=False) + ws_frame(0x0, text[b:]))
        else:
            self._raw(ws_frame(0x1, text))

    def send_binary(self, payload):
        self._log({"event": "send", "type": "binary", "bytes": len(payload)})
        self._raw(ws_frame(0x2, payload))

    def read_loop(self):
        """Read the client's frames until it closes; answer pings and the close."""
        rf = self.h.rfile
        while True:
            try:
                hdr = rf.read(2)
                if len(hdr) < 2:
                    break
                fin, op = hdr[0] & 0x80, hdr[0] & 0x0F
                masked, n = hdr[1] & 0x80, hdr[1] & 0x7F
                if n == 126:
                    n = struct.unpack(">H", rf.read(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", rf.read(8))[0]
                key = rf.read(4) if masked else b""
                payload = bytearray(rf.read(n))
                if masked:
                    for i in range(len(payload)):
                        payload[i] ^= key[i % 4]
            except (OSError, struct.error):
                break
            entry = {"event": "recv", "opcode": op, "fin": bool(fin), "masked": bool(masked)}
            try:
                entry["payload"] = payload.decode()
            except UnicodeDecodeError:
                entry["payload_b64"] = base64.b64encode(bytes(payload)).decode()
            if op == 0x8 and len(payload) >= 2:
                entry["close_code"] = struct.unpack(">H", bytes(payload[:2]))[0]
            self._log(entry)
            if not masked:
                # RFC 6455 5.1: a server must close on an unmasked client frame
                self._raw(ws_frame(0x8, struct.pack(">H", 1002) + b"unmasked frame"))
                break
            if op == 0x9:
                self._raw(ws_frame(0xA, bytes(payload)))
            elif op == 0x8:
                self._raw(ws_frame(0x8, bytes(payload[:2])))
                break
        with self.lock:
            self.alive = False


# --- the queue and its worker -------------------------------------------------------------

class Queue:
    def __init__(self, state):
        self.state = state
        self.cv = threading.Condition()
        self.pending = []       # jobs: dicts
        self.running = None
        self.history = {}
        self.files = {}         # (type, subfolder, filename) -> bytes
        self.sockets = {}       # client_id -> WsConn
        self.number = 0
        self.counter = 0
        self.interrupt_flag = False
        self.foreign_done = False
        self.cache = {}         # node cache key -> UI output (None for other nodes)

    def log(self, event, **kw):
        kw.update({"method": "EVENT", "event": event, "time": time.time()})
        self.state.log(kw)

    def send(self, job, obj, fragment=False):
        conn = self.sockets.get(job.get("client_id"))
        if conn is not None and conn.alive:
            conn.send_json(obj, fragment)

    def send_binary(self, job, payload):
        conn = self.sockets.get(job.get("client_id"))
        if conn is not None and conn.alive:
            conn.send_binary(payload)

    def broadcast_status(self):
        remaining = len(self.pending) + (1 if self.running else 0)
        for conn in list(self.sockets.values()):
            if conn.alive:
                conn.send_json({"type": "status",
                                "data": {"status": {"exec_info": {"queue_remaining": remaining}}}})

    def item(self, job):
        return [job["number"], job["id"], job["prompt"], {"client_id": job.get("client_id")},
                job["outputs"]]

    def add(self, job):
        with self.cv:
            self.pending.append(job)
            self.cv.notify_all()
        self.broadcast_status()

    def worker(self):
        while True:
            with self.cv:
                while True:
                    if self.state.data.get("foreign_running") and not self.foreign_done:
                        job = {"id": "foreign-00000000", "number": -1, "prompt": {},
                               "outputs": [], "client_id": "someone-else", "foreign": True}
                        break
                    if self.pending:
                        job = self.pending.pop(0)
                        break
                    self.cv.wait(0.05)
                self.running = job
                self.interrupt_flag = False
            try:
                if job.get("foreign"):
                    self.log("foreign_start", prompt_id=job["id"])
                    while not self.interrupt_flag:
                        time.sleep(0.01)
                    self.foreign_done = True
                    self.log("foreign_interrupted", prompt_id=job["id"])
                else:
                    self.execute(job)
            finally:
                with self.cv:
                    self.running = None
                self.broadcast_status()

    def order(self, prompt, outputs):
        seen, out = set(), []

        def visit(nid):
            if nid in seen or nid not in prompt:
                return
            seen.add(nid)
            for v in prompt[nid].get("inputs", {}).values():
                if isinstance(v, list) and len(v) == 2:
                    visit(str(v[0]))
            out.append(nid)

        for o in outputs:
            visit(o)
        return out

    def latent_size(self, prompt):
        for node in prompt.values():
            if node.get("class_type") == "ImageScale":
                i = node["inputs"]
                return int(i["width"]), int(i["height"]), 1
        for node in prompt.values():
            if node.get("class_type") == "LoadImage":
                raw = self.files.get(input_key(node["inputs"].get("image", ""))) or b""
                if raw[:8] == b"\x89PNG\r\n\x1a\n":
                    return struct.unpack(">II", raw[16:24]) + (1,)
        for node in prompt.values():
            if node.get("class_type") in ("EmptyLatentImage", "EmptySD3LatentImage"):
                i = node["inputs"]
                return int(i.get("width", 512)), int(i.get("height", 512)), int(i.get("batch_size", 1))
        return 64, 64, 1

    def signatures(self, prompt):
        """Each node's cache key, as ComfyUI's CacheKeySetInputSignature builds it: its
        class and inputs, a link standing for the linked node's key (so a node's key
        changes when anything upstream of it changes)."""
        sigs = {}

        def sig(nid, depth=0):
            if nid in sigs:
                return sigs[nid]
            node = prompt.get(nid, {})
            inputs = {}
            for k, v in sorted(node.get("inputs", {}).items()):
                if isinstance(v, list) and len(v) == 2 and str(v[0]) in prompt and depth < 64:
                    inputs[k] = ["link", sig(str(v[0]), depth + 1), v[1]]
                else:
                    inputs[k] = v
            sigs[nid] = json.dumps([node.get("class_type"), inputs], sort_keys=True)
            return sigs[nid]

        for nid in prompt:
            sig(nid)
        return sigs

    def execute(self, job):
        data = self.state.data
        pid, prompt = job["id"], job["prompt"]
        msgs = []
        # ComfyUI's output cache (the default "classic" cache): a node whose key an
        # earlier run computed is not run again, and an output node served from it hands
        # back that run's UI output - the same files.  Only the keys of the current
        # prompt survive it (set_prompt + clean_unused).  "cache": false = --cache-none.
        use_cache = data.get("cache", True)
        sigs = self.signatures(prompt)
        cache = {k: v for k, v in self.cache.items() if k in sigs.values()} if use_cache else {}
        cached_nodes = [nid for nid in prompt if sigs[nid] in cache]

        def event(kind, payload, fragment=False):
            payload = dict(payload, prompt_id=pid)
            if kind.startswith("execution_"):
                payload["timestamp"] = now_ms()
                msgs.append([kind, payload])
            self.send(job, {"type": kind, "data": payload}, fragment)

        self.log("execution_start", prompt_id=pid)
        event("execution_start", {})
        event("execution_cached", {"nodes": cached_nodes})
        outputs, executed = {}, []
        failure = None
        for nid in self.order(prompt, job["outputs"]):
            node = prompt[nid]
            cls = node["class_type"]
            if nid in cached_nodes:
                # no executing, no progress: ComfyUI only replays an output node's UI
                ui = cache[sigs[nid]]
                if NODES[cls][2]:
                    if ui:
                        outputs[nid] = ui
                    event("executed", {"node": nid, "display_node": nid, "output": ui or None})
                executed.append(nid)
                continue
            event("executing", {"node": nid, "display_node": nid})
            if cls == "KSampler":
                steps = int(node["inputs"]["steps"])
                err = data.get("execution_error")
                for step in range(1, steps + 1):
                    time.sleep(float(data.get("steps_delay_ms", 5)) / 1000.0)
                    if self.interrupt_flag:
                        failure = ("execution_interrupted", {
                            "node_id": nid, "node_type": cls, "executed": executed})
                        break
                    if err and step >= int(err.get("at_step", 1)):
                        failure = ("execution_error", {
                            "node_id": nid, "node_type": cls, "executed": executed,
                            "exception_message": err.get("exception_message",
                                                         "CUDA out of memory.\n"),
                            "exception_type": err.get("exception_type",
                                                      "torch.OutOfMemoryError"),
                            "traceback": ["Traceback (most recent call last):\n"],
                            "current_inputs": {}, "current_outputs": {}})
                        break
                    event("progress", {"value": step, "max": steps, "node": nid})
                    # a sampler preview: binary type 1, format 1 (JPEG), then bytes
                    self.send_binary(job, struct.pack(">II", 1, 1) + b"\xff\xd8\xff\xe0fake\xff\xd9")
                if failure:
                    break
            if cls == "SaveImage":
                w, h, batch = self.latent_size(prompt)
                n = int(data.get("images", batch))
                prefix = node["inputs"].get("filename_prefix", "ComfyUI")
                sub, _, base = prefix.rpartition("/")
                images = []
                for k in range(n):
                    self.counter += 1
                    fn = "%s_%05d_.png" % (base, self.counter)
                    self.files[("output", sub, fn)] = png_bytes(w, h, (40 + 50 * k, 90, 160))
                    images.append({"filename": fn, "subfolder": sub, "type": "output"})
                outputs[nid] = {"images": images}
                event("executed", {"node": nid, "display_node": nid,
                                   "output": {"images": images}}, fragment=True)
            executed.append(nid)
            cache[sigs[nid]] = outputs.get(nid)
        self.cache = cache if use_cache else {}
        if cached_nodes:
            self.log("execution_cached", prompt_id=pid, nodes=cached_nodes)
        entry = {"prompt": self.item(job), "outputs": outputs, "meta": {}}
        if failure:
            kind, payload = failure
            event(kind, payload)
            entry["status"] = {"status_str": "error", "completed": False, "messages": msgs}
            entry["outputs"] = {}
            self.history[pid] = entry
            self.log(kind, prompt_id=pid)
        else:
            event("execution_success", {})
            # ComfyUI writes the history after execution_success (prompt_worker's
            # task_done), then announces executing null
            time.sleep(0.05)
            entry["status"] = {"status_str": "success", "completed": True, "messages": msgs}
            self.history[pid] = entry
            self.log("execution_success", prompt_id=pid)
        event("executing", {"node": None, "display_node": None})


# --- validation ---------------------------------------------------------------------------

def input_key(name):
    """A LoadImage file name ("sub/name.png", "name.png [temp]") as a files key."""
    kind = "input"
    for t in ("input", "temp", "output"):
        if name.endswith(" [%s]" % t):
            kind, name = t, name[:-len(t) - 3]
    sub, _, base = name.rpartition("/")
    return (kind, sub, base)


def validate(prompt, lists, files=None):
    """ComfyUI's validate_prompt, reduced: (ok, error, node_errors, outputs)."""
    for nid, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return False, {"type": "invalid_prompt",
                           "message": "Cannot execute because a node is missing the class_type property.",
                           "details": "Node ID '#%s'" % nid, "extra_info": {}}, {}, []
        if node["class_type"] not in NODES:
            return False, {"type": "invalid_prompt",
                           "message": "Cannot execute because node %s does not exist." % node["class_type"],
                           "details": "Node ID '#%s'" % nid, "extra_info": {}}, {}, []
    outputs = [nid for nid, n in prompt.items() if NODES[n["class_type"]][2]]
    if not outputs:
        return False, {"type": "prompt_no_outputs", "message": "Prompt has no outputs",
                       "details": "", "extra_info": {}}, [], []
    node_errors = {}

    def input_error(kind, message, details, name, value, cfg=None):
        return {"type": kind, "message": message, "details": details,
                "extra_info": {"input_name": name, "input_config": cfg, "received_value": value}}

    checked = {}

    def check(nid):
        if nid in checked:
            return checked[nid]
        checked[nid] = True
        node = prompt[nid]
        required, _, _ = NODES[node["class_type"]]
        inputs = node.get("inputs", {})
        errs = []
        for name, spec in required.items():
            if name not in inputs:
                errs.append({"type": "required_input_missing", "message": "Required input is missing",
                             "details": name, "extra_info": {"input_name": name}})
                continue
            v = inputs[name]
            if spec[0] == "LINK":
                if not (isinstance(v, list) and len(v) == 2):
                    errs.append(input_error("bad_linked_input",
                                            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                            name, name, v))
                    continue
                src = str(v[0])
                if src not in prompt:
                    errs.append(input_error("bad_linked_input", "Bad linked input",
                                            "%s: node %s does not exist" % (name, src), name, v))
                    continue
                outs = NODES[prompt[src]["class_type"]][1]
                got = outs[v[1]] if 0 <= v[1] < len(outs) else None
                if got != spec[1]:
                    errs.append(input_error("return_type_mismatch",
                                            "Return type mismatch between linked nodes",
                                            "%s, received_type(%s) mismatch input_type(%s)"
                                            % (name, got, spec[1]), name, v))
                    continue
                if not check(src):
                    checked[nid] = False
                continue
            if isinstance(v, list):
                errs.append(input_error("bad_linked_input", "Bad linked input",
                                        "%s: a link where a value belongs" % name, name, v))
                continue
            if spec[0] in ("INT", "FLOAT"):
                try:
                    if isinstance(v, bool):
                        raise ValueError
                    num = int(v) if spec[0] == "INT" else float(v)
                except (TypeError, ValueError):
                    errs.append(input_error("invalid_input_type",
                                            "Failed to convert an input value to a %s value" % spec[0],
                                            "%s, %s" % (name, v), name, v))
                    continue
                if num < spec[1]:
                    errs.append(input_error("value_smaller_than_min",
                                            "Value %s smaller than min of %s" % (num, spec[1]),
                                            name, name, v))
                elif num > spec[2]:
                    errs.append(input_error("value_bigger_than_max",
                                            "Value %s bigger than max of %s" % (num, spec[2]),
                                            name, name, v))
            elif spec[0] == "COMBO":
                allowed = lists[spec[1]] if isinstance(spec[1], str) else spec[1]
                if v not in allowed:
                    errs.append(input_error("value_not_in_list", "Value not in list",
                                            "%s: '%s' not in %s" % (name, v, allowed), name, v))
            elif spec[0] == "INPUTFILE":
                if not isinstance(v, str) or input_key(v) not in (files or {}):
                    errs.append(input_error("custom_validation_failed",
                                            "Custom validation failed for node",
                                            "%s - Invalid image file: %s" % (name, v), name, v))
            elif spec[0] == "STRING" and not isinstance(v, str):
                v = str(v)
        if errs:
            node_errors[nid] = {"errors": errs, "dependent_outputs": [],
                                "class_type": node["class_type"]}
            checked[nid] = False
        return checked[nid]

    good = []
    for o in outputs:
        if check(o):
            good.append(o)
        else:
            for ne in node_errors.values():
                ne["dependent_outputs"].append(o)
    if not good:
        first = next(iter(node_errors.values()))["errors"][0] if node_errors else {}
        return False, {"type": "prompt_outputs_failed_validation",
                       "message": "Prompt outputs failed validation",
                       "details": "%s: %s" % (first.get("message", ""), first.get("details", "")),
                       "extra_info": {}}, node_errors, []
    return True, None, node_errors, good


# --- HTTP ---------------------------------------------------------------------------------

class Handler(FakeHandler):
    queue = None

    def _path(self):
        p = self.route
        return p[4:] if p.startswith("/api/") else p

    def route_GET(self):
        p, q = self._path(), self.queue
        if p == "/ws":
            return self.websocket()
        if p.startswith("/history/"):
            pid = p[len("/history/"):]
            entry = q.history.get(pid)
            return self.reply_json(200, {pid: entry} if entry else {})
        if p == "/history":
            return self.reply_json(200, q.history)
        if p == "/view":
            fn = self.query.get("filename", [""])[0]
            sub = self.query.get("subfolder", [""])[0]
            kind = self.query.get("type", ["output"])[0]
            if not fn:
                return self.reply(404, b"")
            if fn.startswith("/") or ".." in fn or kind not in ("output", "input", "temp"):
                return self.reply(400, b"")
            if ".." in sub or sub.startswith("/"):
                return self.reply(403, b"")
            body = q.files.get((kind, sub, fn))
            if body is None:
                return self.reply(404, b"")
            return self.reply(200, body, "image/png",
                              {"Content-Disposition": 'filename="%s"' % fn})
        if p == "/queue":
            with q.cv:
                running = [q.item(q.running)] if q.running else []
                pending = [q.item(j) for j in q.pending]
            return self.reply_json(200, {"queue_running": running, "queue_pending": pending})
        if p == "/prompt":
            return self.reply_json(200, {"exec_info": {"queue_remaining": len(q.pending)}})
        if p == "/system_stats":
            return self.reply_json(200, {"system": {"os": "posix", "comfyui_version": "fake"},
                                         "devices": []})
        if p == "/object_info":
            ckpts = self.state.data.get("ckpts", DEFAULT_CKPTS)
            return self.reply_json(200, {c: {"input": {"required": {
                k: ([ckpts if s[1] == "ckpts" else s[1]] if s[0] == "COMBO" else [s[0]])
                for k, s in spec[0].items()}}, "output": spec[1], "output_node": spec[2]}
                for c, spec in NODES.items()})
        return self.reply_json(404, {"error": "not found"})

    def route_POST(self):
        p, q = self._path(), self.queue
        if p == "/prompt":
            return self.post_prompt()
        if p == "/queue":
            b = self.json_body() or {}
            with q.cv:
                if b.get("clear"):
                    q.pending = []
                for pid in b.get("delete", []):
                    q.pending = [j for j in q.pending if j["id"] != pid]
            q.broadcast_status()
            return self.reply(200, b"", None)
        if p in ("/upload/image", "/upload/mask"):
            return self.upload(p)
        if p == "/interrupt":
            b = self.json_body() or {}
            with q.cv:
                if q.running and (not b.get("prompt_id") or b["prompt_id"] == q.running["id"]):
                    q.interrupt_flag = True
            return self.reply(200, b"", None)
        return self.reply_json(404, {"error": "not found"})

    def upload(self, p):
        q = self.queue
        try:
            parts = parse_multipart(self.headers.get("Content-Type"), self.body)
        except ValueError:
            return self.reply(400, b"", None)
        fields = {x["name"]: x for x in parts}
        img = fields.get("image")
        if not img or not img["filename"]:
            return self.reply(400, b"", None)
        text = {k: v["data"].decode("utf-8", "replace") for k, v in fields.items() if not v["filename"]}
        kind = text.get("type", "input") or "input"
        sub = text.get("subfolder", "")
        if kind not in ("input", "temp", "output"):
            return self.reply(500, b"500: unknown type", "text/plain")
        if ".." in sub or sub.startswith("/") or "/" in img["filename"] or ".." in img["filename"]:
            return self.reply(400, b"", None)
        if p == "/upload/mask":
            try:
                ref = json.loads(text.get("original_ref", ""))
                orig = (ref.get("type", "output"), ref.get("subfolder", ""), ref["filename"])
            except (ValueError, KeyError, AttributeError):
                return self.reply(400, b"", None)
            if orig not in q.files:
                return self.reply(404, b"", None)
        name, data = img["filename"], img["data"]
        if text.get("overwrite") not in ("true", "1"):
            base, dot, ext = name.rpartition(".")
            k = 1
            while (kind, sub, name) in q.files and q.files[(kind, sub, name)] != data:
                name = "%s (%d).%s" % (base, k, ext) if dot else "%s (%d)" % (name, k)
                k += 1
        q.files[(kind, sub, name)] = data
        note = {"method": "NOTE", "path": p + "#file", "time": time.time(), "name": name,
                "filename": img["filename"], "part_type": img["type"], "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "type": kind, "subfolder": sub,
                "overwrite": text.get("overwrite")}
        try:
            w, h, ch, rows = png_pixels(data)
            note.update(width=w, height=h)
            if ch == 1:
                note["white"] = sum(r.count(255) for r in rows) / float(w * h)
        except Exception:
            pass
        self.state.log(note)
        return self.reply_json(200, {"name": name, "subfolder": sub, "type": kind})

    def post_prompt(self):
        q, data = self.queue, self.state.data
        b = self.json_body()
        if not isinstance(b, dict) or "prompt" not in b:
            return self.reply_json(400, {"error": {"type": "no_prompt", "message": "No prompt provided",
                                                   "details": "No prompt provided", "extra_info": {}},
                                         "node_errors": {}})
        prompt = b["prompt"]
        if not isinstance(prompt, dict):
            return self.reply_json(400, {"error": {"type": "invalid_prompt",
                                                   "message": "Cannot execute because the prompt is not an object.",
                                                   "details": "", "extra_info": {}}, "node_errors": {}})
        lists = {"ckpts": data.get("ckpts", DEFAULT_CKPTS)}
        ok, error, node_errors, outputs = validate(prompt, lists, q.files)
        if not ok:
            return self.reply_json(400, {"error": error, "node_errors": node_errors})
        pid = b.get("prompt_id") if "prompt_id" in b and not data.get("ignore_prompt_id") \
            else str(uuid.uuid4())
        with q.cv:
            q.number += 1
            number = q.number
        q.add({"id": pid, "number": number, "prompt": prompt, "outputs": outputs,
               "client_id": b.get("client_id")})
        return self.reply_json(200, {"prompt_id": pid, "number": number, "node_errors": node_errors})

    def websocket(self):
        q, data = self.queue, self.state.data
        if data.get("ws") is False:
            return self.reply(404, b"404: Not Found", "text/plain")
        h = self.headers
        key = h.get("Sec-WebSocket-Key", "")
        try:
            nonce = base64.b64decode(key, validate=True)
        except ValueError:
            nonce = b""
        if ((h.get("Upgrade") or "").lower() != "websocket"
                or "upgrade" not in (h.get("Connection") or "").lower()
                or h.get("Sec-WebSocket-Version") != "13" or len(nonce) != 16):
            return self.reply(400, b"bad websocket handshake", "text/plain")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        cid = self.query.get("clientId", [""])[0] or uuid.uuid4().hex
        conn = WsConn(self, cid)
        old = q.sockets.get(cid)
        q.sockets[cid] = conn
        if old:
            old.drop()
        if data.get("ws_garbage"):
            conn._raw(ws_frame(0x1, b"this is not json"))
        remaining = len(q.pending) + (1 if q.running else 0)
        conn.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": remaining}},
                                                   "sid": cid}})
        conn._raw(ws_frame(0x9, b"hello"))
        conn.read_loop()
        if q.sockets.get(cid) is conn:
            del q.sockets[cid]


def main():
    ap = arg_parser("fake ComfyUI server")
    args = ap.parse_args()

    def setup(srv, state):
        Handler.queue = Queue(state)
        threading.Thread(target=Handler.queue.worker, daemon=True).start()

    serve(Handler, args, setup)


if __name__ == "__main__":
    main()
