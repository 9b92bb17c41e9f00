import type { Request, Response } from 'express';

/** Whether the client has gone away; read after each await of a handler before it takes resources for the client. */
export interface ClientWatch {
  readonly gone: boolean;
}

/**
 * Starts watching the request's connection. Call it before the handler's first await: a close that
 * happens during any later await is then seen, and one that happened earlier shows as a destroyed socket.
 */
export function watchClient(req: Request, res: Response): ClientWatch {
  let gone = req.socket.destroyed;
  res.once('close', () => {
    gone = true;
  });
  return {
    get gone() {
      return gone;
    },
  };
}
