// Drive a live imagegate with the real AiMo SDK (@aimo.network/client + @aimo.network/evm).
//   node aimo_session.mjs BASE_URL PRIVATE_KEY balance            -> prints sessionBalance()'s JSON
//   node aimo_session.mjs BASE_URL PRIVATE_KEY generate MODEL     -> POSTs a generation through the SDK's
//                                                                    wrapped fetch; prints the status, or
//                                                                    {"thrown": message} when the SDK throws
import { register } from "node:module";

register("./extensionless-hooks.mjs", import.meta.url); // the SDK's ESM has extensionless imports
const { AimoClient } = await import("@aimo.network/client");
const { EvmClientSigner } = await import("@aimo.network/evm");
const { privateKeyToAccount } = await import("viem/accounts");

const [baseUrl, key, mode, model] = process.argv.slice(2);
const signer = new EvmClientSigner({ signer: privateKeyToAccount(key) });
const client = new AimoClient({ signer, baseUrl });
try {
  if (mode === "balance") {
    console.log(JSON.stringify(await client.sessionBalance()));
  } else {
    const response = await client.fetch(`${baseUrl}/api/v1/image/generate`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, prompt: "a fox" }),
    });
    console.log(JSON.stringify({ status: response.status }));
  }
} catch (error) {
  console.log(JSON.stringify({ thrown: error instanceof Error ? error.message : String(error) }));
}
