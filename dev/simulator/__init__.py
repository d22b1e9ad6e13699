"""An Azure OpenAI simulator (Responses API and Chat Completions), for tests, benchmarks and offline runs.

    python -m dev.simulator --port 8000 --ttft-ms 200 --think-ms 3000 --token-ms 20 --tokens 60

Paths (POST; anything else is Azure's 404 `{"error":{"code":"404","message":"Resource not found"}}`):
  /openai/v1/responses, /openai/v1/chat/completions   Azure v1: no api-version needed (one is ignored),
                                                      `model` required (recorded as the deployment)
  /openai/deployments/{d}/chat/completions?api-version=...   Azure classic (api-version required)
  /v1/responses, /v1/chat/completions                 an OpenAI-compatible local server (llama.cpp, vLLM)
Auth: an `api-key` header or `Authorization: Bearer`; with `--api-key`, it must be that key (else 401).

Responses API: `event:`/`data:` SSE, a `sequence_number` on every event, no `[DONE]`:
response.created, (ttft_ms) response.in_progress, [reasoning item: output_item.added], (think_ms)
[summary: reasoning_summary_part.added, reasoning_summary_text.delta..., .done, part.done, per part; a
new part at each "\\n\\n**Heading"], [output_item.done], message item: output_item.added,
content_part.added, output_text.delta... (refusal.delta... for a refusal), output_text.done,
content_part.done, output_item.done, then response.completed | response.incomplete | response.failed
| error. The summary streams only when the request sets `reasoning.summary`; reasoning tokens count
in usage regardless. Non-streamed: the response object (`output` items, `status`, `usage`).
Chat Completions on Azure paths: the empty-`choices` prompt-filter chunk, (ttft_ms) the role chunk,
(think_ms) content chunks with content_filter_results and `obfuscation`, the finish chunk, the usage
chunk (stream_options.include_usage), `data: [DONE]`; reasoning is never streamed there. On /v1/
paths: plain chunks, and a rule's reasoning streams first as `delta.reasoning_content`.
The request's max_output_tokens / max_completion_tokens / max_tokens caps reasoning plus answer
tokens: past it the answer ends as `length` / response.incomplete (max_output_tokens).

Control API (JSON): `POST /_sim/rules` adds a rule (400 naming a bad field), `GET /_sim/requests`
lists the records, `POST /_sim/reset` clears both. A rule applies to requests whose last user message
(in `messages`, or `input` as a string or items) contains its `match` text; the newest rule first.
Rule fields: match, reply (answer text), tokens (length of the default answer), reasoning (summary
text, tokenized like replies), reasoning_tokens (in usage; default: the pieces the reasoning streams
as, 0 without reasoning), refusal (streamed instead of the reply), ttft_ms, think_ms, token_ms,
fault, fault_after (answer tokens before a mid-stream fault or stall), retry_after (seconds, 429),
stall_ms, times (uses, then the rule is spent). Unknown fields, wrong types and negatives are a 400.
Faults, before the answer: 429 (Retry-After, retry-after-ms), 500, 503, 401, 403, 404, prompt_filter
(Azure's 400 code content_filter). Mid-answer, after fault_after answer tokens: content_filter
(finish_reason content_filter / response.incomplete reason content_filter), length (finish_reason
length / response.incomplete reason max_output_tokens), cut (the connection drops), stall (silent
for stall_ms, then goes on), error_event (a data line {"error":...} / an `error` event), failed
(response.failed with error server_error; on Chat Completions the same as error_event). Not
streamed: content_filter and length cut the answer, error_event and failed are a 500, cut drops the
connection halfway through the body.
Records: id, api, path, auth, deployment, api_version, body, stream, status, fault, reply,
tokens_total, tokens_sent, reasoning_tokens, reasoning_sent, max_output_tokens, ending, usage,
finished, closed_early, started_at, first_token_at, last_token_at, ended_at (time.monotonic()).
"""

from dev.simulator.app import Record, SimulatedCut, Simulator
from dev.simulator.rules import Rule, tokenize

__all__ = ["Record", "Rule", "SimulatedCut", "Simulator", "tokenize"]
