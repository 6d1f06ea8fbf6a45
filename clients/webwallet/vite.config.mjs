// Vite builds the patient wallet into dist/ (served by the API at /wallet/); vitest runs the
// unit tests under test/. The browser test (e2e/) is driven by pytest, not by vitest.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/wallet/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run wallet:dev`: the API on :8000 answers the app's calls
    proxy: Object.fromEntries(
      ['/auth', '/chain', '/directory', '/consents', '/patients', '/records', '/audit', '/keys', '/smart'].map(
        (p) => [p, 'http://127.0.0.1:8000'],
      ),
    ),
  },
  test: {
    include: ['test/**/*.test.js'],
    environment: 'node',
  },
});
