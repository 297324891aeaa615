// @aimo.network/client 1.6.0 ships ESM whose relative imports have no extension ("./siwx"), which
// Node's ESM resolver refuses (bundlers accept it). Retry such a specifier with ".js".
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (specifier.startsWith(".") && !specifier.endsWith(".js") && error?.code === "ERR_MODULE_NOT_FOUND") {
      return nextResolve(`${specifier}.js`, context);
    }
    throw error;
  }
}
