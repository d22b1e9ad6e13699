// `npm run build`: copy the page and its two libraries into dist/, the folder that is served
// (`make run`, the browser tests) and deployed (azure.yaml `dist`). No bundler: the page is plain
// ES modules, and marked and DOMPurify each ship one self-contained ES module file. Node only.

import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

// What the page needs at run time, and nothing else (no package.json, no node_modules).
const PAGE = ["index.html", "styles.css", "favicon.svg", "config.json", "staticwebapp.config.json", "js"];
const LIBRARIES = {
  "vendor/marked.js": "node_modules/marked/lib/marked.esm.js",
  "vendor/purify.js": "node_modules/dompurify/dist/purify.es.mjs",
};

for (const source of Object.values(LIBRARIES)) {
  if (!existsSync(join(here, source))) {
    console.error(`build: ${source} is missing; run \`npm ci\` in web/ first`);
    process.exit(1);
  }
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "vendor"), { recursive: true });
for (const name of PAGE) cpSync(join(here, name), join(dist, name), { recursive: true });
for (const [target, source] of Object.entries(LIBRARIES)) cpSync(join(here, source), join(dist, target));
console.log(`build: wrote ${dist}`);
