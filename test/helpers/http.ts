// JSON over HTTP for tests: fetch, with the parsed body typed by the caller.

export interface HttpReply<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body, as the type the caller expects (not checked at run time: the test asserts on it). */
  body: T;
}

async function reply<T>(res: Response): Promise<HttpReply<T>> {
  return { status: res.status, headers: res.headers, body: (await res.json()) as T };
}

/** GET `url` and parse the JSON answer. */
export async function getJson<T = unknown>(url: string, headers: Record<string, string> = {}): Promise<HttpReply<T>> {
  return reply<T>(await fetch(url, { headers }));
}

/** POST `body` (a string is sent as it is, so a test can send malformed JSON) and parse the JSON answer. */
export async function postJson<T = unknown>(
  url: string,
  body: string | object,
  headers: Record<string, string> = {},
): Promise<HttpReply<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return reply<T>(res);
}
