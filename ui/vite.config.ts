import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

/** A .gz next to every script and style sheet, which the server sends to browsers that accept gzip. */
function gzipAssets(): Plugin {
  return {
    name: "spindle-gzip-assets",
    apply: "build",
    generateBundle(_options, bundle) {
      for (const [fileName, item] of Object.entries(bundle)) {
        if (!/\.(js|css)$/.test(fileName)) continue;
        const source = item.type === "chunk" ? item.code : item.source;
        this.emitFile({ type: "asset", fileName: fileName + ".gz", source: gzipSync(source, { level: 9 }) });
      }
    },
  };
}

// Served by Spindle.Server under /ui (embedded in the server assembly). Hashed file names make the assets cacheable
// forever; index.html is served with no-cache so a new build is picked up at once.
export default defineConfig({
  base: "/ui/",
  plugins: [react(), gzipAssets()],
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
