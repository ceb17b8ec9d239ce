import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import { Lexer, type Token } from 'marked';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The entry page and every topic document: what a reader follows links through. */
async function documents(): Promise<string[]> {
  const docs = (await readdir(path.join(PROJECT_ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => path.join('docs', name));
  return ['README.md', ...docs.sort()];
}

/** Every link target in a Markdown text, as a Markdown renderer sees it (code spans and blocks hold none). */
function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  const walk = (tokens: readonly Token[]) => {
    for (const token of tokens) {
      if (token.type === 'link' || token.type === 'image') targets.push((token as { href: string }).href);
      const nested = token as { tokens?: Token[]; items?: Token[]; header?: Array<{ tokens: Token[] }>; rows?: Array<Array<{ tokens: Token[] }>> };
      if (nested.tokens) walk(nested.tokens);
      if (nested.items) walk(nested.items);
      for (const cell of nested.header ?? []) walk(cell.tokens);
      for (const row of nested.rows ?? []) for (const cell of row) walk(cell.tokens);
    }
  };
  walk(new Lexer().lex(markdown));
  return targets;
}

/** The anchors GitHub gives a document's headings (github-slugger: GitHub's own rule, duplicates numbered). */
function headingAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  return new Set(
    new Lexer()
      .lex(markdown)
      .filter((token) => token.type === 'heading')
      .map((token) => slugger.slug((token as { text: string }).text.replace(/`/g, ''))),
  );
}

test('every relative link in README.md and docs/ leads to a file and heading that exist', async () => {
  const broken: string[] = [];
  let checked = 0;
  for (const document of await documents()) {
    const text = await readFile(path.join(PROJECT_ROOT, document), 'utf8');
    for (const target of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: — not ours to check offline
      checked++;
      const [file = '', anchor] = target.split('#') as [string, string | undefined];
      const resolved = file === '' ? path.join(PROJECT_ROOT, document) : path.resolve(path.dirname(path.join(PROJECT_ROOT, document)), decodeURIComponent(file));
      const found = await stat(resolved).catch(() => undefined);
      if (!found) {
        broken.push(`${document}: ${target} (no ${path.relative(PROJECT_ROOT, resolved)})`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !headingAnchors(await readFile(resolved, 'utf8')).has(decodeURIComponent(anchor))) {
        broken.push(`${document}: ${target} (no heading #${anchor} in ${path.relative(PROJECT_ROOT, resolved)})`);
      }
    }
  }
  assert.deepEqual(broken, [], 'broken links');
  assert.ok(checked >= 10, `only ${checked} relative links found: is the link parser still reading the documents?`);
});

test('the README links every topic document, and each starts by saying whom it is for', async () => {
  const readme = await readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const linked = new Set(linkTargets(readme).map((target) => target.split('#')[0]));
  for (const document of (await documents()).filter((name) => name !== 'README.md')) {
    assert.ok(linked.has(document), `README.md links ${document}`);
    const text = await readFile(path.join(PROJECT_ROOT, document), 'utf8');
    const firstParagraph = text.split('\n\n')[1] ?? '';
    assert.match(firstParagraph, /^For /, `${document} opens with whom it is for`);
  }
});

test('the link check itself finds a missing file and a missing heading', () => {
  assert.deepEqual(linkTargets('See [a](docs/a.md#x), `[not](code.md)`, and\n\n```\n[nor](this.md)\n```\n| t |\n|---|\n| [cell](c.md) |\n'), ['docs/a.md#x', 'c.md']);
  assert.deepEqual([...headingAnchors('# Try it (no AWS account needed)\n## `relayctl` and more\n## Cost\n### Cost\n')], ['try-it-no-aws-account-needed', 'relayctl-and-more', 'cost', 'cost-1']);
});
