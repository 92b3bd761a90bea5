/**
 * The job page in headless Chromium: lines appear while the step is still streaming, without a
 * reload, and ANSI colours are rendered as styled spans.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { ALL_JOBS, loadSecret, readToken } from '../../agent/processor/tokens.js';
import { openFrame, startTestProcessor, streamJob, TestStream, type TestProcessor } from './support.js';

const CHROMIUM = '/usr/bin/chromium';

describe('output processor: the job page in Chromium', () => {
  let p: TestProcessor;
  let browser: BrowserContext;
  let profile: string;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/ensure-test-tools.sh`);
    p = await startTestProcessor();
    profile = mkdtempSync(join(tmpdir(), 'deckhand-chromium-'));
    // a fresh profile every run (playwright passes it as --user-data-dir)
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await p?.dispose();
    rmSync(profile, { recursive: true, force: true });
  });

  it('shows lines of a running step live, in colour', async () => {
    const jobId = 'job-page';
    const s = new TestStream(p.target, p.token(jobId));
    await s.send(openFrame(jobId, 'page job'));
    await s.resume();
    let offset = 0;
    const line = async (text: string): Promise<void> => {
      const data = Buffer.from(text);
      await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset, data } }] } });
      offset += data.length;
      await s.acked(0, 'STDOUT', offset);
    };
    await s.send({ batch: { entries: [{ stepStarted: { seq: 0, step: 0, name: 'compile things', type: 'run', timeUnixMs: Date.now(), background: false } }] } });
    // an escape sequence split across two chunks still renders
    await line('building \x1b[3');
    await line('1mERROR in red\x1b[0m and plain\n');

    const page = await browser.newPage();
    await page.goto(`${p.http}/jobs/${jobId}`);
    const pre = page.locator('section.step[data-step="0"] pre');
    await pre.getByText('ERROR in red').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('section.step[data-step="0"] .name').textContent(), 'compile things');
    const red = page.locator('section.step[data-step="0"] pre span', { hasText: 'ERROR in red' });
    assert.equal(await red.evaluate((el) => (el as HTMLElement).style.color), 'rgb(205, 49, 49)');
    assert.doesNotMatch((await pre.textContent()) ?? '', /\x1b|\[31m/);

    // more output, while the page stays open: it appears without a reload
    await line('second line arrives later\n');
    await pre.getByText('second line arrives later').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#job-status').textContent(), 'running');
    await page.close();
    s.cancel();
  });

  it('with --http-auth tokens, a page opened with ?token= reads its job, live, and keeps the token in its links', async () => {
    const guarded = await startTestProcessor({ httpAuth: 'tokens' });
    try {
      const jobId = 'job-guarded';
      await streamJob(guarded, jobId, [{ name: 'guarded step', stdout: Buffer.from('only with a token\n') }]);
      const secret = loadSecret(join(guarded.dataDir, 'secret'), false);
      const page = await browser.newPage();
      // a job's own read token: the page, its live tail
      await page.goto(`${guarded.http}/jobs/${jobId}?token=${readToken(secret, jobId)}`);
      await page.locator('section.step[data-step="0"] pre').getByText('only with a token').waitFor({ timeout: 10_000 });
      // the all-jobs token: the list, and from it the job
      const all = readToken(secret, ALL_JOBS);
      await page.goto(`${guarded.http}/?token=${all}`);
      const link = page.getByRole('link', { name: 'build' });
      await link.waitFor({ timeout: 10_000 });
      assert.equal(await link.getAttribute('href'), `/jobs/${jobId}?token=${all}`);
      await link.click();
      await page.locator('section.step[data-step="0"] pre').getByText('only with a token').waitFor({ timeout: 10_000 });
      assert.equal(await page.locator('a[data-keep-token]').getAttribute('href'), `/?token=${all}`);
      // without a token the page is refused
      const refused = await page.goto(`${guarded.http}/jobs/${jobId}`);
      assert.equal(refused?.status(), 401);
      await page.close();
    } finally {
      await guarded.dispose();
    }
  });
});
