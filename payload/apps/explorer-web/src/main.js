// Blockchain explorer demo: chain head from /rpc/head, recent blocks from /api/explorer/blocks.
import './style.css'

const app = document.querySelector('#app')

async function load() {
  const [head, blocks] = await Promise.all([
    fetch('/rpc/head').then((r) => r.json()),
    fetch('/api/explorer/blocks').then((r) => r.json()),
  ])
  app.innerHTML = `<p>chain <b>${head.chain_id}</b> height <b>${head.height}</b> (${head.proposer})</p>
    <ul>${blocks.items.map((b) => `<li>#${b.height} ${b.hash.slice(0, 16)}…</li>`).join('')}</ul>`
}

load().catch((err) => { app.textContent = `explorer backend unavailable: ${err}` })
