import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

/** The size budget of the app's scripts, gzipped (as served): the build fails above it. */
export const JS_BUDGET_KB = 190;

/**
 * A .gz next to every script and style sheet, which the server sends to browsers that accept gzip; and the budget
 * check on the scripts' gzipped size.
 */
function gzipAssets(): Plugin {
  return {
    name: "spindle-gzip-assets",
    apply: "build",
    generateBundle(_options, bundle) {
      let js = 0;
      for (const [fileName, item] of Object.entries(bundle)) {
        if (!/\.(js|css)$/.test(fileName)) continue;
        const source = item.type === "chunk" ? item.code : item.source;
        const gz = gzipSync(source, { level: 9 });
        if (fileName.endsWith(".js")) js += gz.length;
        this.emitFile({ type: "asset", fileName: fileName + ".gz", source: gz });
      }
      const kb = js / 1024;
      if (kb > JS_BUDGET_KB) this.error(`The UI's scripts are ${kb.toFixed(1)} KB gzipped, over the ${JS_BUDGET_KB} KB budget (vite.config.ts)`);
      this.info(`scripts: ${kb.toFixed(1)} KB gzipped (budget ${JS_BUDGET_KB} KB)`);
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
