/**
 * -p HOSTPORT:PORT on 127.0.0.1: the DNAT rules cannot take loopback traffic
 * to the bridge without route_localnet on mincbr0, which would also let a
 * container reach the host's loopback services.  A small forwarder in minc's
 * own process instead (docker's userland proxy): it listens on
 * 127.0.0.1:HOSTPORT and connects each client to ADDRESS:PORT.  It lives
 * exactly as long as minc (a SIGKILL takes it too): nothing to undo.
 * TCP only.
 */
import type { Server, Socket } from 'node:net';
import type { PortMap } from './config.js';

export interface Forwarders {
  close(): Promise<void>;
}

/** Start a forwarder per tcp port; a port that cannot be bound on loopback is said through note, the others go on. */
export function forwardLoopback(address: string, ports: readonly PortMap[], note: (line: string) => void): Forwarders {
  const net = process.getBuiltinModule('node:net') as typeof import('node:net');
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  for (const p of ports.filter((x) => x.proto === 'tcp')) {
    const server = net.createServer({ pauseOnConnect: true }, (client) => {
      track(client);
      const upstream = net.connect({ host: address, port: p.port });
      track(upstream);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      upstream.on('connect', () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    });
    server.on('error', (err: NodeJS.ErrnoException) => {
      note(`-p ${p.hostPort}: not published on 127.0.0.1 (${err.code === 'EADDRINUSE' ? 'the port is in use there' : err.message}); the host's other addresses have it`);
    });
    server.listen({ host: '127.0.0.1', port: p.hostPort, exclusive: true });
    server.unref(); // minc's run ends with the container, not with the forwarder
    servers.push(server);
  }
  return {
    close: () => {
      for (const s of sockets) s.destroy();
      return Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r())))).then(() => undefined);
    },
  };
}
