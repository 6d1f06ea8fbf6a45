// Decryption in the page, measured in Chromium (Debian's, as the browser tests): bundles
// decrypt_entry.mjs with vite (mcl-wasm's WebAssembly inlined, as in the app), serves it on
// 127.0.0.1 (a secure context, so WebCrypto is there), runs benchDecrypt in the page and prints
// one JSON line. scripts/bench_web_decrypt.py runs it.
// usage: node bench_chromium.mjs [n]   env: CHROMIUM (binary, default /usr/bin/chromium)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const n = Number(process.argv[2] ?? 30);
const here = fileURLToPath(new URL('.', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'bench-decrypt-'));
try {
  await build({
    configFile: false,
    logLevel: 'silent',
    root: here,
    build: {
      outDir: out,
      emptyOutDir: true,
      target: 'es2022',
      lib: { entry: join(here, 'decrypt_entry.mjs'), formats: ['es'], fileName: () => 'bench.js' },
      rollupOptions: { output: { inlineDynamicImports: true } },
    },
  });
  writeFileSync(
    join(out, 'index.html'),
    '<!doctype html><meta charset="utf-8"><script type="module">import { benchDecrypt } from "./bench.js"; window.benchDecrypt = benchDecrypt; window.benchReady = true;</script>',
  );
  const server = createServer((req, res) => {
    const name = req.url === '/' ? 'index.html' : req.url.slice(1);
    try {
      const body = readFileSync(join(out, name));
      res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.benchReady === true);
    const figures = await page.evaluate((count) => window.benchDecrypt(count), n);
    process.stdout.write(`${JSON.stringify({ ...figures, browser: browser.version() })}\n`);
  } finally {
    await browser.close();
    server.close();
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
