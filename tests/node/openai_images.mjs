// The official OpenAI Node SDK (`openai` from npm) against a live imagegate: driven by
// tests/acceptance/test_openai_node.py, which reads the JSON lines this prints (one per step).
//
//   node tests/node/openai_images.mjs <base url ending in /v1> <api key> [step ...]
//
// Steps: generate, stream, bad_request, bad_key, models, edit, edit_stream (default: all).
// Each step prints {"step": name, ...facts}; a step that throws unexpectedly prints {"step", "error"}
// and the script exits 1, so the Python side sees exactly what the SDK saw.

import fs from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";

const [baseURL, apiKey, ...asked] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const PNG = "89504e470d0a1a0a";

const head = (b64) => Buffer.from(b64 ?? "", "base64").subarray(0, 8).toString("hex");

// Edit inputs written by the Python side: a.png, b.png (64x64) and mask.png (64x64 RGBA).
const fixtures = process.env.IMAGEGATE_FIXTURES ?? ".";
const upload = (name) => toFile(fs.readFileSync(path.join(fixtures, name)), name, { type: "image/png" });

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
      model: "mock", prompt: "add a moon", image: await upload("a.png"),
    });
    const many = await client.images.edit({
      model: "mock",
      prompt: "combine them",
      image: [await upload("a.png"), await upload("b.png")],
      mask: await upload("mask.png"),
      n: 2,
      size: "64x64",
    });
    return { one: one.data.length, many: many.data.length, png: [...one.data, ...many.data].every((d) => head(d.b64_json) === PNG) };
  },
  async edit_stream() {
    const stream = await client.images.edit({
      model: "mock", prompt: "add a moon", stream: true, partial_images: 1,
      image: await upload("a.png"),
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
