// @aimo.network/* 1.6.0 ship ES modules whose relative imports have no file extension ("./siwx"),
// which bundlers resolve and Node's ESM loader does not. This resolve hook retries such a specifier
// with ".js" (and "/index.js"), so the published packages run unchanged under plain Node.
// Use: node --import ./extensionless.mjs script.mjs
import { register } from "node:module";

if (!process.env.__EXTENSIONLESS_HOOKED) {
  process.env.__EXTENSIONLESS_HOOKED = "1";
  register(import.meta.url);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !/^\.\.?\//.test(specifier) || /\.[cm]?js$/.test(specifier)) {
      throw error;
    }
    for (const suffix of [".js", "/index.js"]) {
      try {
        return await nextResolve(specifier + suffix, context);
      } catch {
        // try the next form
      }
    }
    throw error;
  }
}
