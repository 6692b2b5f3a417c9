// ref-openai.mjs - the benchmark's reference client for the OpenAI flow: the same request
// imagen makes, through the official `openai` SDK (pinned in package.json), run by Node.
//   node ref-openai.mjs BASE_URL OUT_FILE        (key from OPENAI_API_KEY)
// One POST /images/generations (gpt-image-1, n 1, 1024x1024, b64_json), the image decoded
// and written to OUT_FILE, as imagen writes its PNG.
import { writeFileSync } from "node:fs";
import OpenAI from "openai";

const [baseURL, outFile] = process.argv.slice(2);
if (!baseURL || !outFile) {
  console.error("usage: node ref-openai.mjs BASE_URL OUT_FILE");
  process.exit(2);
}
const client = new OpenAI({ baseURL, maxRetries: 0 });
const res = await client.images.generate({
  model: "gpt-image-1",
  prompt: "a lighthouse at dusk",
  n: 1,
  size: "1024x1024",
  quality: "medium",
  output_format: "png",
});
const png = Buffer.from(res.data[0].b64_json, "base64");
if (png.length < 8 || png.readUInt32BE(0) !== 0x89504e47) {
  console.error("ref-openai: the answer is not a PNG");
  process.exit(1);
}
writeFileSync(outFile, png);
