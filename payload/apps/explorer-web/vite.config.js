import { defineConfig } from 'vite'

// Served from the web root's /explorer/ directory (nginx try_files), so assets live under /explorer/.
export default defineConfig({
  base: '/explorer/',
  build: { outDir: 'dist', emptyOutDir: true },
})
