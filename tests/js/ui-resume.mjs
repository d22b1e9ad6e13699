// The Vercel AI SDK's own reconnect, unchanged: start a stream, drop it after a few bytes, then
// DefaultChatTransport.reconnectToStream (what useChat({ resume: true }) calls: GET {api}/{chatId}/stream)
// with the resume token, built into a message by readUIMessageStream. Prints what it saw as JSON.
// Usage: node ui-resume.mjs SDK_PACKAGE START_API RESUME_API CHAT_ID MESSAGE CUT_BYTES
import { createRequire } from "node:module";

const [sdk, startApi, resumeApi, chatId, text, cut] = process.argv.slice(2);
const { DefaultChatTransport, readUIMessageStream } = await import(sdk);
const version = createRequire(import.meta.url)(`${sdk}/package.json`).version;
const result = { version, errors: [] };

// Start the stream with plain fetch, and drop the connection once CUT_BYTES have arrived.
const aborter = new AbortController();
const response = await fetch(startApi, {
  method: "POST",
  headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
  body: JSON.stringify({ id: chatId, messages: [{ id: "u1", role: "user", parts: [{ type: "text", text }] }] }),
  signal: aborter.signal,
});
let head = "";
const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
while (head.length < Number(cut)) {
  const { value, done } = await reader.read();
  if (done) break;
  head += value;
}
aborter.abort();
const start = JSON.parse(head.split("\n\n")[0].split("\n").find((l) => l.startsWith("data: ")).slice(6));
const token = start.messageMetadata.resume.token;

async function reconnect(headers) {
  const transport = new DefaultChatTransport({ api: resumeApi, headers });
  const stream = await transport.reconnectToStream({ chatId });
  if (stream === null) return null;
  let last = null;
  for await (const message of readUIMessageStream({
    message: { id: "a1", role: "assistant", parts: [] },
    stream,
    onError: (error) => result.errors.push(error.message),
  })) {
    last = structuredClone(message);
  }
  return last;
}

result.wrongToken = await reconnect({ "X-Resume-Token": "not-the-token" });
result.message = await reconnect({ "X-Resume-Token": token });
console.log(JSON.stringify(result));
