// GPU marketplace demo: order book from the exchange API.
import './style.css'

const app = document.querySelector('#app')

fetch('/api/orders/orderbook')
  .then((r) => r.json())
  .then((book) => {
    const rows = (side) => book[side].map(([p, a]) => `<li>${side} ${a} @ ${p}</li>`).join('')
    app.innerHTML = `<p>${book.pair}</p><ul>${rows('asks')}${rows('bids')}</ul>`
  })
  .catch((err) => { app.textContent = `marketplace backend unavailable: ${err}` })
