// Runtime configuration: config.json (written at deploy time by infra/hooks/web_config.py),
// then the query string for testing: ?framing=sse anywhere, ?api=https://… only on a page served
// from this machine. No rebuild either way.

export const FRAMINGS = ["ndjson", "sse"];
const DEFAULTS = { apiBase: "", framing: "ndjson" };
const LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/** Check one config object; keep what is valid and say what was not. */
export function normalizeConfig(raw, problems = []) {
  const config = { ...DEFAULTS };
  if (raw && typeof raw === "object") {
    if (typeof raw.apiBase === "string") {
      const base = raw.apiBase.trim().replace(/\/+$/, "");
      if (base === "" || /^https?:\/\/[^/?#]+$/i.test(base)) config.apiBase = base;
      else problems.push(`apiBase must be "" or an origin like https://example.net, not ${JSON.stringify(raw.apiBase)}`);
    }
    if (raw.framing !== undefined) {
      if (FRAMINGS.includes(raw.framing)) config.framing = raw.framing;
      else problems.push(`framing must be ${FRAMINGS.join(" or ")}, not ${JSON.stringify(raw.framing)}`);
    }
  }
  return config;
}

export async function loadConfig(location = window.location) {
  const problems = [];
  let fromFile = {};
  try {
    const response = await fetch(new URL("config.json", location.href), { cache: "no-store" });
    if (response.ok) fromFile = await response.json();
    else if (response.status !== 404) problems.push(`config.json: HTTP ${response.status}`);
  } catch {
    problems.push("config.json is not valid JSON");
  }
  const query = new URLSearchParams(location.search);
  const overrides = { ...fromFile };
  if (query.has("api")) {
    // Only for local testing: elsewhere a crafted link could send the conversation to any server.
    if (LOCAL_HOSTS.includes(location.hostname)) overrides.apiBase = query.get("api");
    else problems.push(`?api= is ignored: the page is not served from ${LOCAL_HOSTS.join(" or ")}`);
  }
  if (query.has("framing")) overrides.framing = query.get("framing");
  const config = normalizeConfig(overrides, problems);
  for (const problem of problems) console.warn(`chat config: ${problem}`);
  return config;
}
