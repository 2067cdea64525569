// An HTTP service whose handler renders an invoice in a busy loop for BLOCK_MS; it must answer afterwards.
const http = require('node:http');
function renderInvoicePdf(order) {
  const pages = order.lines.length;
  const end = Date.now() + Number(process.env.BLOCK_MS || 4000);
  let glyphs = 0;
  while (Date.now() < end) glyphs++;
  return `pdf with ${pages} pages, ${glyphs > 0} glyphs`;
}
const server = http.createServer((req, res) => {
  if (req.url === '/invoice') res.end(renderInvoicePdf({ id: 'INV-7', lines: [1, 2, 3] }));
  else res.end('ok');
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
