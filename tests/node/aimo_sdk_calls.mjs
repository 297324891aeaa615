// The AiMo SDK (@aimo.network/client + /evm + /svm 1.6.0) against a live imagegate, as a developer
// uses it: wrapFetchWithSigner with a session cache (one signed header re-sent for an hour).
// Usage: node aimo_sdk_calls.mjs <base-url> [siwxDomain]   -> one JSON line of results on stdout.
import { createSIWxMessage, wrapFetchWithSigner } from "@aimo.network/client";
import { EvmClientSigner } from "@aimo.network/evm";
import { SvmClientSigner } from "@aimo.network/svm";
import bs58 from "bs58";
import { createPrivateKey, sign as edSign } from "node:crypto";
import { privateKeyToAccount } from "viem/accounts";

// @aimo.network/svm 1.6.0 calls createSIWxMessage without importing it (a ReferenceError in
// signPayload); the global makes the published package work as its authors meant.
globalThis.createSIWxMessage = createSIWxMessage;

const [base, siwxDomain] = process.argv.slice(2);
const url = `${base.replace(/\/$/, "")}/api/v1/image/generate`;

// Deterministic test keys (never funded): EVM secp256k1, Solana ed25519 seed.
const evmAccount = privateKeyToAccount(`0x${"11".repeat(32)}`);
const seed = Buffer.alloc(32, 7);
const edKey = createPrivateKey({
  key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
  format: "der",
  type: "pkcs8",
});
const solPublic = Buffer.from(
  createPrivateKey({ key: edKey.export({ format: "der", type: "pkcs8" }), format: "der", type: "pkcs8" })
    .export({ format: "jwk" }).x, "base64url");
const solAddress = bs58.encode(solPublic);
const solSigner = {
  address: solAddress,
  async signMessages(messages) {
    return messages.map((m) => ({ [solAddress]: new Uint8Array(edSign(null, Buffer.from(m.content), edKey)) }));
  },
  async signTransactions() { throw new Error("not used"); },
};

function sessionCache() {
  const entries = new Map();
  return { get: async (k) => entries.get(k), set: async (k, v) => { entries.set(k, v); } };
}

async function call(fetchWithAuth, body) {
  const response = await fetchWithAuth(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const type = response.headers.get("content-type") || "";
  const result = { status: response.status, type };
  if (type.startsWith("application/json")) {
    const json = await response.json();
    if (json.error) result.error = json.error;
    else result.images = json.images.length;
  } else if (type.startsWith("text/event-stream")) {
    const text = await response.text();
    result.events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  } else {
    const bytes = new Uint8Array(await response.arrayBuffer());
    result.png = bytes[0] === 0x89 && bytes[1] === 0x50;
    result.bytes = bytes.length;
  }
  return result;
}

const options = (extra) => ({ sessionCache: sessionCache(), ...extra });
const evm = new EvmClientSigner({ signer: evmAccount, chainId: "eip155:1" });
const svm = new SvmClientSigner({ signer: solSigner });
const evmFetch = wrapFetchWithSigner(fetch, evm, options(siwxDomain ? { siwxDomain } : {}));
const svmFetch = wrapFetchWithSigner(fetch, svm, options(siwxDomain ? { siwxDomain } : {}));
const prompt = "a lighthouse at dusk";
const results = {
  evm_json: await call(evmFetch, { model: "mock-image", prompt, width: 64, height: 64 }),
  evm_json_again: await call(evmFetch, { model: "mock-image", prompt, width: 64, height: 64 }),
  evm_stream: await call(evmFetch, { model: "mock-image", prompt, width: 64, height: 64, stream: true }),
  evm_file: await call(evmFetch, { model: "mock-image", prompt, width: 64, height: 64, output_type: "file" }),
  svm_json: await call(svmFetch, { model: "mock-image", prompt, width: 64, height: 64 }),
  svm_stream: await call(svmFetch, { model: "mock-image", prompt, width: 64, height: 64, stream: true }),
  svm_file: await call(svmFetch, { model: "mock-image", prompt, width: 64, height: 64, output_type: "file" }),
};
process.stdout.write(JSON.stringify({ evm: evm.address, svm: solAddress, results }) + "\n");
