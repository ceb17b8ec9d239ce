import { CliError, ExitCode } from './cli-error.ts';

/** A column value as a dump writes it: a string, a number (kept as written), or NULL. */
export type SqlValue = string | null;
export type SqlRow = Readonly<Record<string, SqlValue>>;

/**
 * The rows a `mysqldump` (MySQL or MariaDB) inserts into the named tables,
 * each row keyed by column name. It reads what mysqldump writes, not SQL at
 * large: `CREATE TABLE` for the column order, and `INSERT [IGNORE] INTO` or
 * `REPLACE INTO` with or without a column list (`--complete-insert`), one row
 * or many per statement (`--extended-insert`, the default). Strings may be
 * quoted with ' or " and carry backslash escapes and doubled quotes; comments
 * (`-- `, `#`, `/* *\/`, including the `/*!40101 ... *\/` ones) are skipped.
 * Everything else in the dump (SET, LOCK TABLES, other tables) is ignored.
 * A table the dump neither creates nor fills is absent from the result.
 */
export function readMysqlDump(text: string, tables: readonly string[], source: string): Map<string, SqlRow[]> {
  const rows = new Map<string, SqlRow[]>(tables.map((table) => [table, []]));
  const columns = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const statement of statements(text, source)) {
    const fail = (why: string): never => {
      throw new CliError(ExitCode.invalidInput, `${source}, line ${statement.line}: ${why}`);
    };
    const words = statement.tokens.map((token) => (token.kind === 'word' ? token.text.toUpperCase() : ''));
    if (words[0] === 'CREATE' && words[1] === 'TABLE') {
      const nameAt = words[2] === 'IF' ? 5 : 2;
      const name = statement.tokens[nameAt];
      if (name && rows.has(name.text)) {
        columns.set(name.text, columnsOfCreate(statement.tokens.slice(nameAt + 1)));
        seen.add(name.text);
      }
      continue;
    }
    const intoAt = words[0] === 'INSERT' ? (words[1] === 'IGNORE' ? 2 : 1) : words[0] === 'REPLACE' ? 1 : -1;
    if (intoAt < 0 || words[intoAt] !== 'INTO') continue;
    const name = statement.tokens[intoAt + 1];
    const target = name && rows.get(name.text);
    if (!name || !target) continue;
    seen.add(name.text);
    let at = intoAt + 2;
    let names = columns.get(name.text);
    if (isPunct(statement.tokens[at], '(')) {
      names = [];
      for (at += 1; !isPunct(statement.tokens[at], ')'); at += 1) {
        const token = statement.tokens[at] ?? fail('unterminated column list');
        if (token.kind === 'word') names.push(token.text);
        else if (!isPunct(token, ',')) fail(`unexpected ${token.text} in the column list`);
      }
      at += 1;
    }
    if (!names) fail(`INSERT into ${name.text} before its CREATE TABLE and without a column list`);
    if (statement.tokens[at]?.text.toUpperCase() !== 'VALUES') fail(`only INSERT ... VALUES is supported (table ${name.text})`);
    at += 1;
    for (;;) {
      if (!isPunct(statement.tokens[at], '(')) fail(`expected ( to start a row of ${name.text}`);
      const values: SqlValue[] = [];
      for (at += 1; ; ) {
        const token = statement.tokens[at] ?? fail('unterminated row');
        if (token.kind === 'string' || token.kind === 'number') values.push(token.text);
        else if (token.kind === 'word' && token.text.toUpperCase() === 'NULL') values.push(null);
        else fail(`unsupported value ${token.text} in a row of ${name.text}`);
        at += 1;
        if (isPunct(statement.tokens[at], ',')) at += 1;
        else if (isPunct(statement.tokens[at], ')')) break;
        else fail(`expected , or ) in a row of ${name.text}`);
      }
      if (values.length !== names!.length) fail(`a row of ${name.text} has ${values.length} values for ${names!.length} columns`);
      target.push(Object.fromEntries(names!.map((column, index) => [column, values[index] ?? null])));
      at += 1;
      if (at >= statement.tokens.length) break;
      if (!isPunct(statement.tokens[at], ',')) fail(`expected , between rows of ${name.text}`);
      at += 1;
    }
  }
  return new Map([...rows].filter(([table]) => seen.has(table)));
}

type Token =
  /** A keyword or a name; `quoted` when it was written in backticks (so never a keyword). */
  | { readonly kind: 'word'; readonly text: string; readonly quoted: boolean }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'punct'; readonly text: string };

interface Statement {
  /** Line the statement starts on, for messages. */
  readonly line: number;
  readonly tokens: readonly Token[];
}

const isPunct = (token: Token | undefined, text: string) => token?.kind === 'punct' && token.text === text;

/** A definition in CREATE TABLE's list that starts with one of these is an index or constraint, not a column. */
const NOT_A_COLUMN = new Set(['PRIMARY', 'KEY', 'UNIQUE', 'INDEX', 'CONSTRAINT', 'FOREIGN', 'FULLTEXT', 'SPATIAL', 'CHECK', 'PERIOD']);

function columnsOfCreate(tokens: readonly Token[]): string[] {
  const names: string[] = [];
  let depth = 0;
  let definitionStart = false;
  for (const token of tokens) {
    if (isPunct(token, '(')) {
      depth += 1;
      definitionStart = depth === 1;
      continue;
    }
    if (isPunct(token, ')')) depth -= 1;
    if (depth === 1 && isPunct(token, ',')) {
      definitionStart = true;
      continue;
    }
    if (definitionStart && token.kind === 'word' && (token.quoted || !NOT_A_COLUMN.has(token.text.toUpperCase()))) names.push(token.text);
    definitionStart = false;
  }
  return names;
}

/** MySQL's backslash escapes; any other escaped character stands for itself. */
const ESCAPES: Readonly<Record<string, string>> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };

function* statements(text: string, source: string): Generator<Statement> {
  let tokens: Token[] = [];
  let line = 1;
  let startLine = 1;
  let at = 0;
  const fail = (why: string): never => {
    throw new CliError(ExitCode.invalidInput, `${source}, line ${line}: ${why}`);
  };
  const push = (token: Token) => {
    if (tokens.length === 0) startLine = line;
    tokens.push(token);
  };
  while (at < text.length) {
    const char = text[at]!;
    if (char === '\n') {
      line += 1;
      at += 1;
    } else if (/\s/.test(char)) {
      at += 1;
    } else if ((char === '-' && text.startsWith('-- ', at)) || (char === '-' && text.startsWith('--\n', at)) || char === '#') {
      const end = text.indexOf('\n', at);
      at = end < 0 ? text.length : end;
    } else if (char === '/' && text[at + 1] === '*') {
      const end = text.indexOf('*/', at + 2);
      if (end < 0) fail('unterminated comment');
      for (const skipped of text.slice(at, end)) if (skipped === '\n') line += 1;
      at = end + 2;
    } else if (char === ';') {
      if (tokens.length > 0) yield { line: startLine, tokens };
      tokens = [];
      at += 1;
    } else if (char === "'" || char === '"') {
      const startedOn = line;
      let value = '';
      for (at += 1; ; at += 1) {
        if (at >= text.length) {
          line = startedOn;
          fail('unterminated string');
        }
        const next = text[at]!;
        if (next === '\n') line += 1;
        if (next === '\\') {
          at += 1;
          const escaped = text[at] ?? '';
          value += ESCAPES[escaped] ?? escaped;
        } else if (next === char && text[at + 1] === char) {
          value += char;
          at += 1;
        } else if (next === char) {
          at += 1;
          break;
        } else value += next;
      }
      push({ kind: 'string', text: value });
    } else if (char === '`') {
      const end = text.indexOf('`', at + 1);
      if (end < 0) fail('unterminated `name`');
      push({ kind: 'word', text: text.slice(at + 1, end), quoted: true });
      at = end + 1;
    } else if (/[0-9]/.test(char) || (char === '-' && /[0-9]/.test(text[at + 1] ?? ''))) {
      const match = /^-?(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?)/.exec(text.slice(at, at + 400))!;
      push(match[0].startsWith('0x') ? { kind: 'string', text: Buffer.from(match[0].slice(2), 'hex').toString('utf8') } : { kind: 'number', text: match[0] });
      at += match[0].length;
    } else if (/[A-Za-z_$]/.test(char)) {
      const word = /^[A-Za-z0-9_$]+/.exec(text.slice(at, at + 200))![0];
      // A charset introducer (_utf8mb4'...', _binary'...') only labels the string after it.
      if (!(word.startsWith('_') && (text[at + word.length] === "'" || text[at + word.length] === '"'))) push({ kind: 'word', text: word, quoted: false });
      at += word.length;
    } else {
      push({ kind: 'punct', text: char });
      at += 1;
    }
  }
  if (tokens.length > 0) yield { line: startLine, tokens };
}
