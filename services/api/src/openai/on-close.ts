import type { Response } from 'express';

/**
 * Runs `handler` once when the response closes, whether it finished or the client went away
 * (`res.writableFinished` tells which). If the connection is already gone (a client may leave while
 * its jobs are being enqueued, before any listener exists) the handler runs at once, so no job is
 * left running for nobody.
 */
export function onClose(res: Response, handler: () => void): void {
  let ran = false;
  const run = () => {
    if (ran) return;
    ran = true;
    handler();
  };
  res.on('close', run);
  if (!res.socket || res.socket.destroyed) run();
}
