/**
 * A token-auth front for the test registry (Docker Hub's flow): requests
 * without `Bearer <token>` get 401 and a Bearer challenge; GET /token gives
 * the token for basic credentials user:secret; the rest goes on to the
 * registry unchanged.
 */
import { createServer, request, type Server } from 'node:http';

export interface AuthProxy {
  readonly host: string;
  /** scopes asked for at /token, in order */
  readonly scopes: string[];
  stop(): Promise<void>;
}

export const USER = 'user';
export const SECRET = 'secret';
const TOKEN = 'tok-123';

export function startAuthProxy(registry: string): Promise<AuthProxy> {
  const scopes: string[] = [];
  let self = '';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${self}`);
    if (url.pathname === '/token') {
      const want = `Basic ${Buffer.from(`${USER}:${SECRET}`).toString('base64')}`;
      scopes.push(url.searchParams.get('scope') ?? '');
      if (req.headers.authorization !== want || url.searchParams.get('service') !== 'test-registry') {
        res.writeHead(401).end('{"details":"bad credentials"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${self}/token",service="test-registry"`, 'content-type': 'application/json' })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const [h, p] = registry.split(':');
    const fwd = request({ host: h, port: Number(p), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    fwd.on('error', () => res.writeHead(502).end());
    req.pipe(fwd);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      self = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
      resolve({ host: self, scopes, stop: () => new Promise((r) => server.close(() => r())) });
    });
  });
}
