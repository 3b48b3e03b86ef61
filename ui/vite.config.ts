import { defineConfig } from "vite";

// The build is served by `nomaflow serve` (engine/server/spa.py); `npm run dev` proxies the API to it.
const api = process.env.NOMAFLOW_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  // Every URL in the build is relative to index.html, so it works under any prefix (a host app's
  // /ops/jobs/, a reverse proxy's sub-path) without being rebuilt; see src/base.ts.
  base: "./",
  build: {
    outDir: "../engine/server/static",
    emptyOutDir: true,
  },
  server: {
    proxy: {
      "/admin": api,
      "/health": api,
      "/socket.io": { target: api, ws: true },
    },
  },
});
