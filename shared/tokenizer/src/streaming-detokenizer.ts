import type { Tokenizer } from './tokenizer.js';

const REPLACEMENT_CHAR = '\uFFFD';

/**
 * Turns a stream of token ids into a stream of text, one push per token, as TGI does it
 * (prefix/read offsets). A token may end halfway through a UTF-8 character (byte tokens, byte-level
 * BPE) or change how the previous token renders (SentencePiece's leading space), so text is never
 * decoded per token: each push decodes the window ids[prefixOffset..] and emits what it adds to
 * ids[prefixOffset..readOffset], unless the window ends in U+FFFD, which means a character is still
 * incomplete and the token is held until the next one completes it.
 *
 * Invariant: the concatenation of every push and the final flush equals decode(all ids).
 * Replaying the same ids reproduces the same chunks, so a resumed generation can rebuild this
 * state by pushing the tokens it already emitted and discarding the text.
 */
export class StreamingDetokenizer {
  private readonly ids: number[] = [];
  /** Start of the window decoded for context; its text was emitted earlier. */
  private prefixOffset = 0;
  /** End of the ids whose text has been emitted. */
  private readOffset = 0;

  constructor(private readonly tokenizer: Tokenizer) {}

  /** Text completed by `id`; '' while a character or merge is still incomplete. */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const windowText = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    if (windowText.length <= prefixText.length || windowText.endsWith(REPLACEMENT_CHAR)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    // Only ids before readOffset are kept as context; drop the rest to keep memory constant.
    this.compact();
    return windowText.slice(prefixText.length);
  }

  /** At the end of generation: whatever is still held back, incomplete characters as U+FFFD. */
  flush(): string {
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const windowText = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    this.compact();
    return windowText.slice(prefixText.length);
  }

  private compact(): void {
    if (this.prefixOffset === 0) return;
    this.ids.splice(0, this.prefixOffset);
    this.readOffset -= this.prefixOffset;
    this.prefixOffset = 0;
  }
}
