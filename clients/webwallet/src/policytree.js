// The MedLedger policy language in the browser: parse, canonical form and text, exactly as
// crypto/policy.py does (the span program and the ciphertext's policy field are functions of
// the canonical text, so the JS must produce Python's text byte for byte; test/fame.test.js
// checks it against Python-made fixtures). Policies are ASCII: JS string order is Python's.

const ATTRIBUTE = /^[a-z][a-z0-9_]*:[a-z0-9_.@-]+$/;
// Python's \s on str (str.isspace()), spelled out: JS's \s differs (it has U+FEFF, lacks
// U+001C–U+001F and U+0085), and both parsers must accept exactly the same texts.
const WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const TOKEN = new RegExp(`[${WS}]*(?:([(),])|([^${WS}(),]+))`, 'y');
const MAX_DEPTH = 64;
const MAX_ATTRIBUTES = 1024;
const MAX_POLICY_LENGTH = 65536;
const MAX_THRESHOLD_CELLS = 65536;

/** A malformed policy, with the character position Python would report. */
export class PolicySyntaxError extends Error {
  constructor(message, position) {
    super(`${message} (at position ${position})`);
    this.name = 'PolicySyntaxError';
    this.position = position;
  }
}

const isAscii = (s) => /^[\x00-\x7f]*$/.test(s);

function tokenize(text) {
  const tokens = [];
  let pos = 0;
  while (pos < text.length) {
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) break; // trailing whitespace
    pos = TOKEN.lastIndex;
    const start = pos - (m[1] ?? m[2]).length;
    if (m[1]) {
      tokens.push({ kind: m[1], text: m[1], position: start });
      continue;
    }
    const word = m[2];
    // fold only ASCII: toLowerCase maps the Kelvin sign U+212A to 'k' (and U+0130 to 'i' + a
    // combining dot), so folding first would let a look-alike spelling pass the ASCII check
    const lowered = isAscii(word) ? word.toLowerCase() : word;
    if (lowered === 'and' || lowered === 'or' || lowered === 'of') {
      tokens.push({ kind: lowered, text: word, position: start });
    } else if (/^[0-9]+$/.test(word)) {
      tokens.push({ kind: 'int', text: word, position: start });
    } else if (ATTRIBUTE.test(lowered)) {
      tokens.push({ kind: 'attr', text: lowered, position: start });
    } else {
      throw new PolicySyntaxError(`unknown token '${word}'`, start);
    }
  }
  tokens.push({ kind: 'end', text: '', position: text.length });
  return tokens;
}

class Parser {
  constructor(tokens) {
    this.tokens = tokens;
    this.index = 0;
    this.leaves = 0;
    this.cells = 0;
    this.memo = new Map();
  }
  peek() {
    return this.tokens[this.index];
  }
  fail(token) {
    const what = token.kind === 'end' ? 'end of policy' : `'${token.text}'`;
    throw new PolicySyntaxError(`unexpected ${what}`, token.position);
  }
  take(kind) {
    const token = this.peek();
    if (token.kind !== kind) this.fail(token);
    this.index += 1;
    return token;
  }
  parse() {
    const node = this.orExpr(0);
    if (this.peek().kind !== 'end') this.fail(this.peek());
    return node;
  }
  orExpr(depth) {
    const children = [this.andExpr(depth)];
    while (this.peek().kind === 'or') {
      this.index += 1;
      children.push(this.andExpr(depth));
    }
    return children.length === 1 ? children[0] : { kind: 'or', children };
  }
  andExpr(depth) {
    const children = [this.primary(depth)];
    while (this.peek().kind === 'and') {
      this.index += 1;
      children.push(this.primary(depth));
    }
    return children.length === 1 ? children[0] : { kind: 'and', children };
  }
  primary(depth) {
    const token = this.peek();
    if (depth >= MAX_DEPTH) throw new PolicySyntaxError('policy nested too deeply', token.position);
    if (token.kind === 'attr') {
      this.leaves += 1;
      if (this.leaves > MAX_ATTRIBUTES) {
        throw new PolicySyntaxError('policy has too many attributes', token.position);
      }
      this.index += 1;
      return { kind: 'attr', name: token.text };
    }
    if (token.kind === '(') {
      this.index += 1;
      const node = this.orExpr(depth + 1);
      this.take(')');
      return node;
    }
    if (token.kind === 'int') return this.threshold(depth);
    if (token.kind === 'end' && this.index === 0) {
      throw new PolicySyntaxError('empty policy', token.position);
    }
    return this.fail(token);
  }
  // A threshold counts satisfied children, so a repeated child would count twice
  // ("2 of (a:1, a:1, b:2)" opened with a:1 alone): refused where it repeats, as Python does.
  thresholdChild(depth, seen) {
    const start = this.peek();
    const child = this.orExpr(depth + 1);
    const text = canonicalText(child, this.memo);
    if (seen.has(text)) {
      throw new PolicySyntaxError(
        `threshold child ${quote(text)} repeats child ${seen.get(text) + 1} (a repeated child would be counted twice)`,
        start.position,
      );
    }
    seen.set(text, seen.size);
    return child;
  }
  threshold(depth) {
    const kToken = this.take('int');
    this.take('of');
    this.take('(');
    const seen = new Map();
    const children = [this.thresholdChild(depth, seen)];
    while (this.peek().kind === ',') {
      this.index += 1;
      children.push(this.thresholdChild(depth, seen));
    }
    this.take(')');
    const k = Number.parseInt(kToken.text, 10);
    if (!(k >= 1 && k <= children.length)) {
      throw new PolicySyntaxError(
        `threshold ${k} out of range for ${children.length} children`,
        kToken.position,
      );
    }
    this.cells += children.length * (k - 1);
    if (this.cells > MAX_THRESHOLD_CELLS) {
      throw new PolicySyntaxError('thresholds too large', kToken.position);
    }
    return { kind: 'threshold', k, children };
  }
}

/** Python's repr of an ASCII fragment, cut short (errors must not echo whole inputs). */
const quote = (text, limit = 60) => `'${text.length <= limit ? text : `${text.slice(0, limit - 1)}…`}'`;

/**
 * nodeText(canonicalTree(node)), memoised per node (crypto.policy_tree.canonical_text):
 * recomputing it for every threshold level was quadratic in the nesting depth. The memo maps
 * a node to { text, items: [[sort key, text as written in the parent], …] }.
 */
function canonicalInfo(node, memo) {
  const cached = memo.get(node);
  if (cached) return cached;
  let info;
  if (node.kind === 'attr') info = { text: node.name, items: [] };
  else {
    const andOr = node.kind === 'and' || node.kind === 'or';
    const entries = [];
    for (const child of node.children) {
      const c = canonicalInfo(child, memo);
      if (andOr && child.kind === node.kind) entries.push(...c.items);
      else if (andOr && (child.kind === 'and' || child.kind === 'or')) entries.push([c.text, `(${c.text})`]);
      else entries.push([c.text, c.text]);
    }
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const joined = entries.map(([, written]) => written).join(node.kind === 'threshold' ? ', ' : ` ${node.kind} `);
    info = { text: node.kind === 'threshold' ? `${node.k} of (${joined})` : joined, items: entries };
  }
  memo.set(node, info);
  return info;
}

const canonicalText = (node, memo) => canonicalInfo(node, memo).text;

/** Parse policy text into a tree (not yet canonical). */
export function parsePolicy(text) {
  if (typeof text !== 'string') throw new PolicySyntaxError('policy must be text', 0);
  if (text.length > MAX_POLICY_LENGTH) throw new PolicySyntaxError('policy too long', 0);
  return new Parser(tokenize(text)).parse();
}

function childText(node) {
  return node.kind === 'and' || node.kind === 'or' ? `(${nodeText(node)})` : nodeText(node);
}

/** The text of a (canonical) tree, as crypto.policy's Node.text(). */
export function nodeText(node) {
  if (node.kind === 'attr') return node.name;
  if (node.kind === 'and') return node.children.map(childText).join(' and ');
  if (node.kind === 'or') return node.children.map(childText).join(' or ');
  return `${node.k} of (${node.children.map(nodeText).join(', ')})`;
}

const byText = (a, b) => {
  const x = nodeText(a);
  const y = nodeText(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Flatten nested and/or and sort commutative children by their canonical text. */
export function canonicalTree(node) {
  if (node.kind === 'attr') return node;
  const children = node.children.map(canonicalTree);
  if (node.kind === 'and' || node.kind === 'or') {
    const flat = [];
    for (const c of children) {
      if (c.kind === node.kind) flat.push(...c.children);
      else flat.push(c);
    }
    flat.sort(byText);
    return { kind: node.kind, children: flat };
  }
  children.sort(byText);
  return { kind: 'threshold', k: node.k, children };
}

/** crypto.policy.normalize: the canonical text of a policy. */
export function normalizePolicy(text) {
  return nodeText(canonicalTree(parsePolicy(text)));
}
