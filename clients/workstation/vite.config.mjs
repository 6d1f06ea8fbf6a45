// Vite builds the clinicians' workstation and auditors' console into dist/ (served by the API
// at /workstation/); vitest runs the unit tests under test/. The browser tests (e2e/) are
// driven by pytest (tests/workstation/), not by vitest. The wallet's signing, keystore and
// SIWE modules are imported from clients/webwallet/src (`@wallet/…`), never copied.
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const wallet = fileURLToPath(new URL('../webwallet/src', import.meta.url));

export default defineConfig({
  root,
  base: '/workstation/',
  plugins: [vue()],
  resolve: { alias: { '@wallet': wallet } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  server: {
    // `npm run workstation:dev`: the API on :8000 answers the app's calls
    proxy: Object.fromEntries(
      [
        '/auth', '/chain', '/directory', '/consents', '/patients', '/records', '/audit', '/keys',
        '/referrals', '/consultations', '/break-glass', '/workstation/config.json',
      ].map((p) => [p, 'http://127.0.0.1:8000']),
    ),
  },
  test: {
    include: ['test/**/*.test.js'],
    environment: 'node',
  },
});
