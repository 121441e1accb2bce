import { defineConfig } from 'vite'

// Served from the web root's /marketplace/ directory (nginx try_files), so assets live under /marketplace/.
export default defineConfig({
  base: '/marketplace/',
  build: { outDir: 'dist', emptyOutDir: true },
})
