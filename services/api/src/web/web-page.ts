import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';

/** services/api/public, from services/api/dist/web. */
const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/**
 * The web page at `/` (services/api/public: plain HTML, CSS and ES modules, no build step), served
 * as static files. `no-cache` makes browsers revalidate (cheap 304s by ETag), so a deploy is seen at once.
 */
export function webPage(dir: string = PUBLIC_DIR): RequestHandler {
  return express.static(dir, {
    index: 'index.html',
    redirect: false,
    setHeaders: (res) => {
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('x-content-type-options', 'nosniff');
    },
  });
}
