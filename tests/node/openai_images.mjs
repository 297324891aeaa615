// The official OpenAI Node SDK (`openai` from npm) against a live imagegate: driven by
// tests/acceptance/test_openai_node.py, which reads the JSON lines this prints (one per step).
//
//   node tests/node/openai_images.mjs <base url ending in /v1> <api key> [step ...]
//
// Steps: generate, stream, bad_request, bad_key, models, edit, edit_stream (default: all).
// Each step prints {"step": name, ...facts}; a step that throws unexpectedly prints {"step", "error"}
// and the script exits 1, so the Python side sees exactly what the SDK saw.

import { crc32, deflateSync } from "node:zlib";
import OpenAI, { toFile } from "openai";

const [baseURL, apiKey, ...asked] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const PNG = "89504e470d0a1a0a";

const head = (b64) => Buffer.from(b64 ?? "", "base64").subarray(0, 8).toString("hex");

// A tiny valid PNG drawn by the gateway itself (the mock model), to upload as an edit input.
async function inputPng(size) {
  const result = await client.images.generate({ model: "mock", prompt: "input", size });
  return Buffer.from(result.data[0].b64_json, "base64");
}

// An RGBA PNG mask (OpenAI's convention: alpha 0 = the area to edit): opaque, with the top-left
// quarter transparent. Built here because the mock draws RGB pictures, and a mask needs an alpha channel.
function maskPng(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 4); // filter byte 0, then RGBA pixels
    for (let x = 0; x < width; x++) row[1 + x * 4 + 3] = x < width / 2 && y < height / 2 ? 0 : 255;
    rows.push(row);
  }
  const idat = deflateSync(Buffer.concat(rows));
  return Buffer.concat([Buffer.from(PNG, "hex"), chunk("IHDR", header), chunk("IDAT", idat), chunk("IEND", Buffer.alloc(0))]);
}

async function caught(call) {
  try {
    await call();
    return { raised: null };
  } catch (error) {
    return { raised: error.constructor.name, status: error.status, code: error.code, param: error.param, message: error.message };
  }
}

const steps = {
  async generate() {
    const result = await client.images.generate({
      model: "mock", prompt: "a lighthouse", n: 2, size: "320x192", quality: "hd", response_format: "b64_json",
    });
    return { count: result.data.length, size: result.size, quality: result.quality, png: result.data.every((d) => head(d.b64_json) === PNG) };
  },
  async stream() {
    const stream = await client.images.generate({
      model: "mock", prompt: "a lighthouse", size: "128x128", stream: true, partial_images: 1,
    });
    const events = [];
    for await (const event of stream) {
      const bytes = Buffer.from(event.b64_json, "base64").length;
      events.push({ type: event.type, index: event.partial_image_index ?? null, size: event.size, format: event.output_format, bytes, png: head(event.b64_json) === PNG });
    }
    return { events };
  },
  async bad_request() {
    return caught(() => client.images.generate({ model: "mock", prompt: "x", response_format: "url" }));
  },
  async bad_key() {
    const wrong = new OpenAI({ baseURL, apiKey: "igk_not-a-key", maxRetries: 0 });
    return caught(() => wrong.images.generate({ model: "mock", prompt: "x" }));
  },
  async models() {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    return { ids };
  },
  async edit() {
    const one = await client.images.edit({
      model: "mock", prompt: "add a moon", image: await toFile(await inputPng("64x64"), "input.png", { type: "image/png" }),
    });
    const many = await client.images.edit({
      model: "mock",
      prompt: "combine them",
      image: [
        await toFile(await inputPng("64x64"), "a.png", { type: "image/png" }),
        await toFile(await inputPng("64x64"), "b.png", { type: "image/png" }),
      ],
      mask: await toFile(maskPng(64, 64), "mask.png", { type: "image/png" }),
      n: 2,
      size: "64x64",
    });
    return { one: one.data.length, many: many.data.length, png: [...one.data, ...many.data].every((d) => head(d.b64_json) === PNG) };
  },
  async edit_stream() {
    const stream = await client.images.edit({
      model: "mock", prompt: "add a moon", stream: true, partial_images: 1,
      image: await toFile(await inputPng("64x64"), "input.png", { type: "image/png" }),
    });
    const events = [];
    for await (const event of stream) events.push({ type: event.type, png: head(event.b64_json) === PNG });
    return { events };
  },
};

const chosen = asked.length > 0 ? asked : Object.keys(steps);
let failed = false;
for (const name of chosen) {
  try {
    console.log(JSON.stringify({ step: name, ...(await steps[name]()) }));
  } catch (error) {
    failed = true;
    console.log(JSON.stringify({ step: name, error: `${error.constructor.name}: ${error.message}` }));
  }
}
process.exit(failed ? 1 : 0);
