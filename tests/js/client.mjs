// Drives the reference AI Chat Protocol client against an endpoint and prints what it saw as JSON.
// Usage: node client.mjs BASE_URL MESSAGE
import { AIChatProtocolClient } from "@microsoft/ai-chat-protocol";

const [base, content] = process.argv.slice(2);
const client = new AIChatProtocolClient(base);
const messages = [{ role: "user", content }];
const result = {};

const completion = await client.getCompletion(messages, { sessionState: { turn: 1 } });
result.completion = completion;

const deltas = [];
const stream = await client.getStreamedCompletion(messages, { sessionState: { turn: 2 } });
for await (const delta of stream) {
  deltas.push(delta);
}
result.deltas = deltas;

try {
  await client.getCompletion([], {});
} catch (error) {
  result.badRequest = { name: error.name, code: error.code, message: error.message };
}
console.log(JSON.stringify(result));
