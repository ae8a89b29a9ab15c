// The program in the URL fragment: #code=<base64url of deflate-raw JSON> (nothing kept on the server).

const PREFIX = "code=";

function toBase64Url(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

// state: {language, version, files: [{name, content}], stdin, tests?}
export async function encodeState(state) {
  const json = new TextEncoder().encode(JSON.stringify({ v: 1, ...state }));
  return PREFIX + toBase64Url(await pipe(json, new CompressionStream("deflate-raw")));
}

// The state in a fragment (with or without "#"), or null when it holds none or is damaged.
export async function decodeState(fragment) {
  const text = (fragment || "").replace(/^#/, "");
  if (!text.startsWith(PREFIX)) return null;
  try {
    const bytes = await pipe(fromBase64Url(text.slice(PREFIX.length)), new DecompressionStream("deflate-raw"));
    const state = JSON.parse(new TextDecoder().decode(bytes));
    if (!Array.isArray(state.files) || state.files.length === 0) return null;
    const files = state.files
      .filter((f) => f && typeof f.name === "string" && typeof f.content === "string")
      .map((f) => ({ name: f.name, content: f.content }));
    if (files.length === 0) return null;
    return {
      language: typeof state.language === "string" ? state.language : "",
      version: typeof state.version === "string" ? state.version : "",
      files,
      stdin: typeof state.stdin === "string" ? state.stdin : "",
      tests: Array.isArray(state.tests) ? state.tests : [],
    };
  } catch {
    return null;
  }
}
