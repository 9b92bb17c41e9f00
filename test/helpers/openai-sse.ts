/** One SSE message of an OpenAI stream: its `id:` (null if none) and its `data:`. */
export interface DataMessage {
  id: string | null;
  data: string;
}

export interface PostedStream {
  status: number;
  headers: Headers;
  messages: AsyncGenerator<DataMessage>;
}

/**
 * POSTs `body` and reads the response as Server-Sent Events, as a client with Last-Event-ID
 * support (fetch-event-source and the like) does; the official `openai` client hides the ids.
 */
export async function postSse(
  url: string,
  body: object,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<PostedStream> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  return { status: res.status, headers: res.headers, messages: parse(res) };
}

async function* parse(res: Response): AsyncGenerator<DataMessage> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) yield { id, data: data.join('\n') };
    }
  }
}
