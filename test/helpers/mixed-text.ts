/**
 * Deterministic text of the kinds a tokenizer meets, for comparing encoders and measuring them:
 * English prose (common words and made-up rare ones, contractions in any case), source code,
 * CJK, other scripts and accents, emoji (ZWJ families, skin tones, flags), digits, whitespace runs.
 * Made-up words and random CJK keep the pieces varied, so a tokenizer's per-word cache cannot turn
 * a throughput measurement into a cache benchmark.
 */
import { seededUniform } from '@sambay/engine/model';

const COMMON_WORDS = (
  'the of and to in is that it was for on are with as his they be at one have this from or had by ' +
  'word but what some we can out other were all there when up use your how said an each she which ' +
  'their time if will way about many then them write would like so these her long make thing see'
).split(' ');
const SYLLABLES = 'ka lo mi ne sa tor vek quin zu rha pol ent ish ar ble gri oth un der'.split(' ');
const CONTRACTIONS = ["don't", "It's", "WE'RE", "they've", "I'm", "you'll", "She'D", "isn'T"];
const CODE_LINES = [
  'export function add(a: number, b: number): number {',
  '  return a + b; // sum',
  '}',
  'const xs = [1, 2, 3].map((x) => x * 2);',
  'if (err != nil) { return fmt.Errorf("read %s: %w", path, err) }',
  'def step(hidden, conv_state, ssm_state):',
  '    y = torch.einsum("bld,dn->bln", x, w)  # (B, L, N)',
  '#include <stdio.h>',
  '\tfor (int i = 0; i < n; ++i) sum += a[i];',
  '<div class="row"><span id="n42">&nbsp;</span></div>',
  "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '1 day';",
];
const OTHER_WORDS = [
  'café',
  'naïve',
  'déjà',
  'Straße',
  'Ελληνικά',
  'привет',
  'мир',
  'مرحبا',
  'नमस्ते',
  'ภาษาไทย',
  'שלום',
  'Tiếng Việt',
];
const EMOJI = ['🙂', '🎉', '👩‍👩‍👧', '👍🏽', '🇫🇷', '🫠', '❤️', '🧑‍💻', '🦀'];
const WHITESPACE = ['  ', '\n\n', '\t\t', '   \n', '\r\n', '        ', ' \n \n'];

/** One randomly chosen piece of each kind; weights roughly those of chat and code traffic. */
function pieceMaker(next: () => number): () => string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const rareWord = () => Array.from({ length: 2 + Math.floor(next() * 3) }, () => pick(SYLLABLES)).join('');
  const cjk = () =>
    Array.from({ length: 3 + Math.floor(next() * 12) }, () =>
      String.fromCodePoint(0x4e00 + Math.floor(next() * 0x5000)),
    ).join('');
  const kinds: [weight: number, make: () => string][] = [
    [40, () => ` ${pick(COMMON_WORDS)}`],
    [10, () => ` ${rareWord()}`],
    [4, () => ` ${pick(CONTRACTIONS)}`],
    [8, () => `\n${pick(CODE_LINES)}`],
    [6, () => cjk() + pick(['。', '、', '，', ''])],
    [5, () => ` ${pick(OTHER_WORDS)}`],
    [4, () => ` ${pick(EMOJI)}`],
    [4, () => ` ${Math.floor(next() * 1e7)}`],
    [4, () => pick(WHITESPACE)],
    [3, () => pick(['.', ',', '!', '?', ' (', ')', ' —', ':', ' "', '"'])],
  ];
  const total = kinds.reduce((sum, [weight]) => sum + weight, 0);
  return () => {
    let r = next() * total;
    for (const [weight, make] of kinds) if ((r -= weight) < 0) return make();
    return kinds[0]![1]();
  };
}

/** At least `minBytes` bytes of UTF-8 text, the same for the same seed. */
export function mixedText(minBytes: number, seed = 1): string {
  const piece = pieceMaker(seededUniform(seed)); // the same text every run
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < minBytes) {
    const text = piece();
    parts.push(text);
    bytes += Buffer.byteLength(text);
  }
  return parts.join('');
}
