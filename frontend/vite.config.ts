/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `vite build` writes the browser into the Python package, where `gridbt serve` serves it at /
// and a wheel ships it (gridbt/api/frontend.py); `vite` (npm run dev) proxies /api to a running
// `gridbt serve` (GRIDBT_API, default http://127.0.0.1:8765).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../gridbt/api/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      output: {
        manualChunks: {
          react: ["react", "react-dom", "react-router-dom"],
          query: ["@tanstack/react-query", "@tanstack/react-table", "@tanstack/react-virtual"],
          echarts: ["echarts/core", "echarts/charts", "echarts/components", "echarts/renderers"],
          uplot: ["uplot"],
        },
      },
    },
  },
  server: {
    proxy: { "/api": process.env.GRIDBT_API ?? "http://127.0.0.1:8765" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
