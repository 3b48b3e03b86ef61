import { defineConfig } from "vite";

// The build is served by `nomaflow serve` (engine/server/spa.py); `npm run dev` proxies the API to it.
const api = process.env.NOMAFLOW_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  build: {
    outDir: "../engine/server/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000, // mermaid's chunks are big; they are loaded only for the diagram view
  },
  server: {
    proxy: {
      "/admin": api,
      "/health": api,
      "/socket.io": { target: api, ws: true },
    },
  },
});
