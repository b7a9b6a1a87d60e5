// Expected token ids from Hugging Face's own tokenizer library (the npm package `tokenizers`, HF's
// Rust implementation behind a Node binding), for attnd's tokenizer tests. Run it through
// tools/hf-tokenizer-reference, which installs `tokenizers` into a temporary folder outside the
// repository and passes its location in HF_TOKENIZERS_MODULE.
//
//   node tools/hf-tokenizer-reference.mjs fixtures DATA_DIR OUT_DIR
//       Small committed fixtures (tests/data/tokenizers): a bert-base-uncased-style vocab cut
//       from bert-base-uncased's (DATA_DIR/bert-tokenizer), a GPT-2 vocab cut to its first
//       merges (DATA_DIR/gpt2), the tokenizer.json HF builds from each, and HF's encodings of the
//       cases in cases.json (singles, pairs, truncation, padding), ids/type ids/mask/tokens.
//   node tools/hf-tokenizer-reference.mjs corpus DATA_DIR OUT_DIR
//       Every SpamAssassin mail and State of the Union address under DATA_DIR, whole, through
//       bert-base-uncased (vocab.txt rebuilt from DATA_DIR/bert-tokenizer) and GPT-2
//       (DATA_DIR/gpt2): OUT_DIR/{bert-base-uncased,gpt2}/ with the tokenizer files and
//       expected.jsonl, one line {"file": path under DATA_DIR, "ids": [...]} per document.
//
// A document is its file's bytes read as UTF-8 when they are valid UTF-8 (a BOM kept), else as
// Latin-1: attnd's to_valid_utf8, so both sides tokenize the same string.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const moduleDir = process.env.HF_TOKENIZERS_MODULE;
if (!moduleDir) {
  console.error('hf-tokenizer-reference: HF_TOKENIZERS_MODULE is not set (run tools/hf-tokenizer-reference)');
  process.exit(2);
}
const hf = createRequire(path.join(moduleDir, 'package.json'))('tokenizers');
const { Tokenizer, WordPiece, BPE } = hf;

const [mode, dataDir, outDir] = process.argv.slice(2);
if (!['fixtures', 'corpus'].includes(mode) || !dataDir || !outDir) {
  console.error('usage: hf-tokenizer-reference.mjs fixtures|corpus DATA_DIR OUT_DIR');
  process.exit(2);
}
const here = path.dirname(new URL(import.meta.url).pathname);

// ---- vocabularies -------------------------------------------------------------------------------

// bert-tokenizer's vocab.json is bert-base-uncased's vocab.txt with "##x" written "x", a
// word-initial "x" written "▁x", and [unused0] (id 1) written "▁".
function bertVocab() {
  const v = JSON.parse(fs.readFileSync(path.join(dataDir, 'bert-tokenizer/assets/vocab.json'), 'utf8'));
  const tokens = v.map((t, i) => {
    if (i === 1) return '[unused0]';
    if (/^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$/.test(t)) return t;
    return t.startsWith('▁') ? t.slice(1) : '##' + t;
  });
  if (tokens.length !== 30522 || new Set(tokens).size !== tokens.length ||
      tokens[100] !== '[UNK]' || tokens[101] !== '[CLS]' || tokens[1996] !== 'the' || tokens[2015] !== '##s')
    throw new Error('bert-tokenizer vocab.json is not bert-base-uncased as expected');
  return tokens;
}

// A smaller vocab in bert-base-uncased's order: the special tokens, every one-character token
// (initial and "##"), the 3000 most frequent words and the 1000 most frequent "##" pieces.
function bertMiniVocab(full) {
  const keep = [];
  let words = 0, pieces = 0;
  full.forEach((t, i) => {
    const special = /^\[(PAD|UNK|CLS|SEP|MASK)\]$/.test(t);
    const body = t.startsWith('##') ? t.slice(2) : t;
    const oneChar = [...body].length === 1 && !/^\[unused/.test(t);
    if (special || oneChar) keep.push(t);
    else if (/^\[unused/.test(t)) return;
    else if (t.startsWith('##') ? pieces++ < 1000 : words++ < 3000) keep.push(t);
  });
  return keep;
}

function gpt2Files() {
  const encoder = JSON.parse(fs.readFileSync(path.join(dataDir, 'gpt2/encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(dataDir, 'gpt2/vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => i > 0 && l.length > 0);
  return { encoder, merges };
}

// GPT-2 with only its first n merges: the 256 byte symbols, the n merge results (ids 256+rank in
// GPT-2's encoder.json, so the ids stay GPT-2's) and <|endoftext|> after them.
function gpt2Mini(n) {
  const { encoder, merges } = gpt2Files();
  const vocab = {};
  for (const [t, id] of Object.entries(encoder)) if (id < 256) vocab[t] = id;
  merges.slice(0, n).forEach((m, r) => { vocab[m.split(' ').join('')] = 256 + r; });
  vocab['<|endoftext|>'] = 256 + n;
  return { vocab, merges: merges.slice(0, n) };
}

function writeVocabTxt(file, tokens) { fs.writeFileSync(file, tokens.join('\n') + '\n'); }
function writeBpeFiles(dir, { vocab, merges }) {
  fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
  fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n' + merges.join('\n') + '\n');
}

// ---- HF tokenizers, built as transformers' BertTokenizerFast / GPT2TokenizerFast are -------------

async function bertTokenizer(vocabFile, { lowercase = true, stripAccents = undefined, chinese = true } = {}) {
  const model = await WordPiece.fromFile(vocabFile, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const t = new Tokenizer(model);
  const opts = { cleanText: true, handleChineseChars: chinese, lowercase };
  if (stripAccents !== undefined) opts.stripAccents = stripAccents;
  t.setNormalizer(hf.bertNormalizer(opts));
  t.setPreTokenizer(hf.bertPreTokenizer());
  t.setDecoder(hf.wordPieceDecoder('##', true));
  const id = (s) => t.tokenToId(s);
  t.setPostProcessor(hf.templateProcessing('[CLS]:0 $A:0 [SEP]:0', '[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1',
    [['[CLS]', id('[CLS]')], ['[SEP]', id('[SEP]')]]));
  t.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  return t;
}

async function gpt2Tokenizer(vocabFile, mergesFile) {
  const model = await BPE.fromFile(vocabFile, mergesFile, {});
  const t = new Tokenizer(model);
  t.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  t.setPostProcessor(hf.byteLevelProcessing(false));
  t.addSpecialTokens(['<|endoftext|>']);
  // The binding has no ByteLevel decoder constructor: set it in the JSON, as GPT-2's file has it.
  const tmp = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'hf-ref-')), 'tokenizer.json');
  t.save(tmp);
  const json = JSON.parse(fs.readFileSync(tmp, 'utf8'));
  fs.rmSync(path.dirname(tmp), { recursive: true });
  json.decoder = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return Tokenizer.fromString(JSON.stringify(json));
}

function readDocument(file) {
  const bytes = fs.readFileSync(file);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

// ---- fixtures -----------------------------------------------------------------------------------

async function encodeCase(t, c) {
  t.disableTruncation();
  t.disablePadding();
  if (c.max_length) t.setTruncation(c.max_length, { strategy: c.strategy ?? 'LongestFirst' });
  if (c.pad_to) t.setPadding({ maxLength: c.pad_to, padId: t.tokenToId('[PAD]'), padToken: '[PAD]' });
  let e;
  try {
    e = await t.encode(c.text, c.pair ?? null, { addSpecialTokens: c.add_special_tokens ?? true });
  } catch (err) {
    return { ...c, error: String(err.message ?? err) };  // attnd must refuse it too
  }
  // Type ids and mask only where they are not all 0 / all 1, to keep the fixture small.
  const out = { ...c, ids: e.getIds(), tokens: e.getTokens(), decoded: await t.decode(e.getIds(), true) };
  if (e.getTypeIds().some((x) => x !== 0)) out.type_ids = e.getTypeIds();
  if (e.getAttentionMask().some((x) => x !== 1)) out.attention_mask = e.getAttentionMask();
  return out;
}

async function fixtures() {
  fs.mkdirSync(outDir, { recursive: true });
  const cases = JSON.parse(fs.readFileSync(path.join(outDir, 'cases.json'), 'utf8'));
  // Every case for each tokenizer; the SOTU excerpts too (texts of its corpus, committed).
  const texts = cases.texts.concat(cases.sotu_excerpts);
  const variants = (t) => {
    const out = texts.map((text) => ({ text }));
    cases.pairs.forEach(([a, b]) => {
      out.push({ text: a, pair: b });
      for (const strategy of ['LongestFirst', 'OnlyFirst', 'OnlySecond'])
        for (const max_length of [12, 25]) out.push({ text: a, pair: b, max_length, strategy });
    });
    for (const text of texts.slice(0, 12)) {
      out.push({ text, max_length: 10 });
      out.push({ text, max_length: 16, pad_to: 16 });
      out.push({ text, add_special_tokens: false });
    }
    return out;
  };

  const bertDir = path.join(outDir, 'bert-uncased-mini');
  fs.mkdirSync(bertDir, { recursive: true });
  writeVocabTxt(path.join(bertDir, 'vocab.txt'), bertMiniVocab(bertVocab()));
  const expected = {};
  for (const [name, opts] of [['bert_uncased', {}], ['bert_cased', { lowercase: false }],
    ['bert_lower_keep_accents', { lowercase: true, stripAccents: false }],
    ['bert_no_chinese', { chinese: false }]]) {
    const t = await bertTokenizer(path.join(bertDir, 'vocab.txt'), opts);
    if (name === 'bert_uncased') t.save(path.join(bertDir, 'tokenizer.json'));
    expected[name] = [];
    const vs = name === 'bert_uncased' ? variants(t) : texts.map((text) => ({ text }));
    for (const c of vs) {
      const e = await encodeCase(t, c);
      if (name !== 'bert_uncased') { delete e.tokens; delete e.decoded; }  // the ids say it all
      expected[name].push(e);
    }
  }

  const gptDir = path.join(outDir, 'gpt2-mini');
  fs.mkdirSync(gptDir, { recursive: true });
  writeBpeFiles(gptDir, gpt2Mini(2000));
  const g = await gpt2Tokenizer(path.join(gptDir, 'vocab.json'), path.join(gptDir, 'merges.txt'));
  g.save(path.join(gptDir, 'tokenizer.json'));
  expected.gpt2 = [];
  for (const c of variants(g).filter((c) => !c.pad_to)) expected.gpt2.push(await encodeCase(g, c));

  fs.writeFileSync(path.join(outDir, 'expected.json'), JSON.stringify(expected, null, 0).replace(/\},\{/g, '},\n{') + '\n');
  const n = Object.values(expected).reduce((s, v) => s + v.reduce((a, c) => a + (c.ids ?? []).length, 0), 0);
  console.log(`hf-tokenizer-reference: ${Object.values(expected).reduce((s, v) => s + v.length, 0)} cases, ${n} ids -> ${outDir}`);
}

// ---- corpus -------------------------------------------------------------------------------------

function corpusFiles() {
  const files = [];
  for (const sub of ['spam-assassin/data', 'sotu/data']) {
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.txt')) files.push(p);
      }
    };
    const root = path.join(dataDir, sub);
    if (!fs.existsSync(root)) throw new Error(`${root} is missing: run scripts/fetch-data`);
    walk(root);
  }
  return files;
}

async function corpus() {
  const files = corpusFiles();
  const bertDir = path.join(outDir, 'bert-base-uncased');
  const gptDir = path.join(outDir, 'gpt2');
  fs.mkdirSync(bertDir, { recursive: true });
  fs.mkdirSync(gptDir, { recursive: true });
  writeVocabTxt(path.join(bertDir, 'vocab.txt'), bertVocab());
  const bert = await bertTokenizer(path.join(bertDir, 'vocab.txt'));
  bert.save(path.join(bertDir, 'tokenizer.json'));
  const gpt = await gpt2Tokenizer(path.join(dataDir, 'gpt2/encoder.json'), path.join(dataDir, 'gpt2/vocab.bpe'));
  gpt.save(path.join(gptDir, 'tokenizer.json'));
  for (const [t, dir] of [[bert, bertDir], [gpt, gptDir]]) {
    const out = fs.openSync(path.join(dir, 'expected.jsonl.tmp'), 'w');
    let ids = 0;
    for (const f of files) {
      const e = await t.encode(readDocument(f), null, { addSpecialTokens: false });
      ids += e.getIds().length;
      fs.writeSync(out, JSON.stringify({ file: path.relative(dataDir, f), ids: e.getIds() }) + '\n');
    }
    fs.closeSync(out);
    fs.renameSync(path.join(dir, 'expected.jsonl.tmp'), path.join(dir, 'expected.jsonl'));
    console.log(`hf-tokenizer-reference: ${files.length} documents, ${ids} ids -> ${dir}/expected.jsonl`);
  }
}

await (mode === 'fixtures' ? fixtures() : corpus());
