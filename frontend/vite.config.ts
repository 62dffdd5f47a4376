// The desk is built into the Python package, where `tradewinds web` serves it: hashed file names
// (cached for a year), gzip and brotli copies written by the build (served when the browser
// accepts them), and a manifest the server reads to know the entry point.
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vitest/config";

/** Writes .br and .gz beside every text asset once the build is done. */
function precompress(outDir: string): Plugin {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return {
    name: "tradewinds-precompress",
    apply: "build",
    closeBundle() {
      for (const file of walk(outDir)) {
        if (!/\.(js|css|html|svg|json)$/.test(file)) continue;
        const data = readFileSync(file);
        if (data.length < 1024) continue;
        writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
        writeFileSync(`${file}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

const OUT = "../src/tradewinds/web/static";

export default defineConfig({
  base: "/",
  plugins: [precompress(OUT)],
  build: {
    outDir: OUT,
    emptyOutDir: true,
    manifest: true,
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes("node_modules/@codemirror") || id.includes("node_modules/@lezer")) return "editor";
          if (id.includes("node_modules/lightweight-charts") || id.includes("fancy-canvas")) return "charts";
          if (id.includes("node_modules/lit") || id.includes("node_modules/@lit")) return "lit";
          return undefined;
        },
      },
    },
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
  },
});
