// The reference proxy's request handler: headers copied minus hop-by-hop, undici Pool.stream straight into the
// response, nothing else. Used by bench/servers/undici-proxy.mjs (its own process) and by
// bench/servers/escrow-ablation.mjs (beside Escrow in one process).
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'expect', 'te', 'trailer']);

/** `upstreamPath` maps the request's URL to the upstream's path (the identity by default). */
export function bareProxyHandler(pool, upstreamPath = (url) => url) {
  return (req, res) => {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP.has(name)) headers[name] = value;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool
      .stream(
        { method: req.method, path: upstreamPath(req.url), headers, body: hasBody ? req : null },
        ({ statusCode, headers: h }) => {
          const out = {};
          for (const [name, value] of Object.entries(h)) if (!HOP.has(name)) out[name] = value;
          res.writeHead(statusCode, out);
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  };
}
