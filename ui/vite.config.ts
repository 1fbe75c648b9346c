import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Served by Spindle.Server under /ui (embedded in the server assembly). Hashed file names make the assets cacheable
// forever; index.html is served with no-cache so a new build is picked up at once.
export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // One small bundle: no dynamic chunks, so a page never fetches code later (works offline once loaded).
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080", "/health": "http://127.0.0.1:8080" },
  },
});
