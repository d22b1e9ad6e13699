// Drives the Vercel AI SDK's own client, unchanged, against /api/ui/chat and prints what it saw as JSON:
// DefaultChatTransport.sendMessages (what useChat calls) and readUIMessageStream (what builds its messages).
// Usage: node ui-chat.mjs SDK_PACKAGE API_URL MESSAGE   (SDK_PACKAGE: "ai" or the "ai-sdk-5" alias)
import { createRequire } from "node:module";

const [sdk, api, text] = process.argv.slice(2);
const { DefaultChatTransport, readUIMessageStream } = await import(sdk);

const version = createRequire(import.meta.url)(`${sdk}/package.json`).version;
const result = { version, chunks: [], errors: [], messages: [], raw: "" };
// The transport's documented `fetch` option: the wire text is copied aside, the SDK reads the real body.
let copying = Promise.resolve();
async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  result.status = response.status;
  result.headers = Object.fromEntries(response.headers);
  if (!response.ok || !response.body) return response;
  const [copy, body] = response.body.tee();
  copying = (async () => {
    for await (const text of copy.pipeThrough(new TextDecoderStream())) result.raw += text;
  })();
  return new Response(body, { status: response.status, headers: response.headers });
}

const transport = new DefaultChatTransport({ api, fetch: recordingFetch });
const messages = [{ id: "user-1", role: "user", parts: [{ type: "text", text }] }];

let stream;
try {
  stream = await transport.sendMessages({
    chatId: "chat-1",
    messages,
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: undefined,
  });
} catch (error) {
  // A refusal before the stream: the transport throws the response body as the message.
  result.requestError = error.message;
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Every validated chunk (transient data parts included) on one branch, the message builder on the other.
const [raw, parts] = stream.tee();
const collecting = (async () => {
  try {
    for await (const chunk of raw) result.chunks.push(chunk);
  } catch (error) {
    result.chunkError = error.message;
  }
})();
const assistant = { id: "assistant-1", role: "assistant", parts: [] };
for await (const message of readUIMessageStream({
  message: assistant,
  stream: parts,
  onError: (error) => result.errors.push(error.message),
})) {
  result.messages.push(structuredClone(message));
}
await Promise.all([collecting, copying]);
result.message = result.messages.at(-1) ?? null;
result.snapshots = result.messages.length;
delete result.messages;
console.log(JSON.stringify(result));
