// ref-replicate.mjs - the benchmark's reference client for the Replicate flow: the same two
// requests imagen makes, through the official `replicate` SDK (pinned in package.json).
//   node ref-replicate.mjs BASE_URL OUT_FILE     (token from REPLICATE_API_TOKEN)
// replicate.run() creates the prediction with `Prefer: wait` (POST
// /v1/models/OWNER/NAME/predictions); the output URL is then downloaded and written to
// OUT_FILE.  The SDK wraps only https: outputs in its FileOutput stream, so a loopback
// http: URL comes back as a string and is fetched here (FileOutput does the same fetch).
import { writeFileSync } from "node:fs";
import Replicate from "replicate";

const [baseUrl, outFile] = process.argv.slice(2);
if (!baseUrl || !outFile) {
  console.error("usage: node ref-replicate.mjs BASE_URL OUT_FILE");
  process.exit(2);
}
const replicate = new Replicate({ auth: process.env.REPLICATE_API_TOKEN, baseUrl });
const output = await replicate.run("black-forest-labs/flux-schnell", {
  input: { prompt: "a lighthouse at dusk", num_outputs: 1, aspect_ratio: "1:1" },
});
const first = Array.isArray(output) ? output[0] : output;
let bytes;
if (typeof first === "string") {
  const r = await fetch(first);
  if (!r.ok) {
    console.error(`ref-replicate: HTTP ${r.status} downloading the output`);
    process.exit(1);
  }
  bytes = Buffer.from(await r.arrayBuffer());
} else {
  bytes = Buffer.from(await (await first.blob()).arrayBuffer());
}
if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x89504e47) {
  console.error("ref-replicate: the output is not a PNG");
  process.exit(1);
}
writeFileSync(outFile, bytes);
