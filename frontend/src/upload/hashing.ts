// EvaporateJS calls its hash functions synchronously, so WebCrypto (async) cannot be used.
// MD5: one hash-wasm hasher, created once (async WASM load), then used synchronously for every part.
// SHA-256: js-sha256, synchronous.
import { createMD5, type IHasher } from "hash-wasm";
import { sha256 } from "js-sha256";

let md5: IHasher | null = null;

export async function prepareHashing(): Promise<void> {
  md5 ??= await createMD5();
}

function base64(bytes: Uint8Array): string {
  let text = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) text += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(text);
}

/** Content-MD5 of a part: base64 of the raw digest. */
export function md5Base64(data: ArrayBuffer | Uint8Array): string {
  if (!md5) throw new Error("MD5 hasher not ready: call prepareHashing() first");
  md5.init();
  md5.update(data instanceof Uint8Array ? data : new Uint8Array(data));
  return base64(md5.digest("binary"));
}

export function sha256Hex(data: string | ArrayBuffer): string {
  return sha256(data);
}
