// Reads /api/responses the way openai-chat-app-quickstart's front end does (fetch + ndjson-readablestream)
// and prints what it saw as JSON. Usage: node responses.mjs API_URL MESSAGE
import readNDJSONStream from "ndjson-readablestream";

const [api, text] = process.argv.slice(2);
const input = [{ type: "message", role: "user", content: [{ type: "input_text", text }] }];
const response = await fetch(api, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ input }),
});
const result = { status: response.status, contentType: response.headers.get("content-type") };
if (!response.ok) {
  result.body = await response.json();
  console.log(JSON.stringify(result));
  process.exit(0);
}

result.chunks = [];
let answer = "";
let reasoning = "";
for await (const chunk of readNDJSONStream(response.body)) {
  result.chunks.push(chunk);
  if (chunk.type === "response.output_text.delta" && chunk.delta) answer += chunk.delta;
  if (chunk.type === "response.reasoning_summary_text.delta" && chunk.delta) reasoning += chunk.delta;
  if (chunk.error) result.error = chunk.error;
}
Object.assign(result, { answer, reasoning });
console.log(JSON.stringify(result));
