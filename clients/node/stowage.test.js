'use strict';
// The Node client against a real `stowage serve` on 127.0.0.1 (port 0):
// provision and upload from Node, back up and restore through the command,
// and check that progress events arrive in order, numbered without gaps.

const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');

const lib = require('./lib');

const ROOT = path.resolve(__dirname, '..', '..');
const COMMAND = path.join(__dirname, 'stowage.js');
const STOWAGE = path.join(ROOT, '.venv', 'bin', 'stowage');

let server;
let address;
let dataDir;

function startServer() {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stowage-node-'));
  server = spawn(
    STOWAGE,
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--name-release-period', '0',
      '--upload-limit', '8MiB'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let log = '';
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /stowage serving on 127\.0\.0\.1:(\d+)/.exec(log);
      if (m && !address) {
        address = `127.0.0.1:${m[1]}`;
        resolve();
      }
    });
    server.on('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
}

// Runs the Node command; resolves with its exit status and output lines.
function command(...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [COMMAND, '--server', address, ...args], (err, stdout, stderr) => {
      resolve({
        status: err ? err.code : 0,
        out: stdout.split('\n').filter(Boolean),
        err: stderr.split('\n').filter(Boolean),
      });
    });
  });
}

function sequences(lines) {
  return lines.map((l) => Number(/^seq=(\d+) phase=\S+ items=\d+\/\d+ bytes=\d+\/\d+$/.exec(l)[1]));
}

function contiguous(seqs) {
  return seqs.every((s, i) => s === i + 1);
}

before(async () => {
  await startServer();
  const client = new lib.Client(address);
  try {
    await client.provisionEnvironment('node-src', 'EDITION_STANDARD', { region: 'west-europe' });
    await client.putArtifact('node-src', 'partners', 'Fabrikam', Buffer.from('<Partner/>'));
    await client.putArtifact('node-src', 'agreements', 'X12', Buffer.from('<Agreement/>'), {
      protocol: 'x12',
    });
    const assembly = crypto.randomBytes(6 * 1024 * 1024);
    const put = await client.putArtifact('node-src', 'assemblies', 'Maps.dll', assembly);
    assert.equal(put.sha256, crypto.createHash('sha256').update(assembly).digest('hex'));
  } finally {
    client.close();
  }
});

after(() => {
  if (server) server.kill('SIGTERM');
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test('backup then restore through the command, progress in order', async () => {
  const backup = await command('backup', 'node-src');
  assert.equal(backup.status, 0, backup.err.join('\n'));
  const backupName = backup.out.at(-1);
  assert.match(backupName, /^environments\/node-src\/backups\/\d{8}-\d{6}-[0-9a-f]{6}$/);
  const backupSeqs = sequences(backup.out.slice(0, -1));
  assert.ok(backupSeqs.length >= 4, backup.out.join('\n'));
  assert.ok(contiguous(backupSeqs), backup.out.join('\n'));
  assert.ok(backup.out.some((l) => / phase=upload items=\d+\/3 bytes=\d+\/\d+/.test(l)));

  const restore = await command('restore', backupName, '--to', 'node-copy', '--edition', 'premium');
  assert.equal(restore.status, 0, restore.err.join('\n'));
  assert.equal(restore.out.at(-1), 'environments/node-copy');
  assert.ok(contiguous(sequences(restore.out.slice(0, -1))), restore.out.join('\n'));

  const client = new lib.Client(address);
  try {
    const env = await client.getEnvironment('node-copy');
    assert.equal(env.state, 'STATE_SUSPENDED');
    assert.equal(env.edition, 'EDITION_PREMIUM');
    assert.equal(env.artifactCount, '3');
  } finally {
    client.close();
  }

  const again = await command('restore', backupName, '--to', 'node-copy');
  assert.equal(again.status, 1);
  assert.deepEqual(again.out, []);
  assert.equal(again.err.length, 1);
  assert.match(again.err[0], /^error: FAILED_PRECONDITION NAME_NOT_AVAILABLE: .+/);

  const lower = await command('restore', backupName, '--to', 'node-low', '--edition', 'basic');
  assert.equal(lower.status, 1);
  assert.match(lower.err[0], /^error: FAILED_PRECONDITION RESTORE_EDITION_TOO_LOW: .+/);
});

test('the library watcher delivers each event once, resuming after a given sequence', async () => {
  const client = new lib.Client(address);
  try {
    // New content, so that the backup uploads for a while at 8 MiB/s.
    await client.putArtifact('node-src', 'assemblies', 'Second.dll', crypto.randomBytes(4 << 20));
    const op = await client.createBackup('node-src');
    // An idle deadline far below the gaps between events: the stream is
    // reopened after the last event seen again and again, and nothing repeats.
    const seen = [];
    const done = await client.watchOperation(op.name, (e) => seen.push(e), { idleMs: 20 });
    assert.equal(done.state, 'STATE_SUCCEEDED');
    assert.ok(contiguous(seen.map((e) => Number(e.sequence))));
    const replay = [];
    await client.watchOperation(op.name, (e) => replay.push(e));
    assert.deepEqual(replay, seen);
    const tail = [];
    await client.watchOperation(op.name, (e) => tail.push(e), { afterSequence: 2 });
    assert.deepEqual(tail, seen.slice(2));
  } finally {
    client.close();
  }
});

test('errors carry the status code, the ErrorInfo reason and its metadata', async () => {
  const client = new lib.Client(address);
  try {
    await assert.rejects(client.getEnvironment('absent'), (e) => {
      assert.ok(e instanceof lib.StowageError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.reason, 'ENVIRONMENT_NOT_FOUND');
      assert.equal(e.metadata.environment, 'environments/absent');
      return true;
    });
    const usage = await command('backup');
    assert.equal(usage.status, 2);
    assert.match(usage.err[0], /^error: usage: /);
  } finally {
    client.close();
  }
});

test('a token-protected server: no token is refused, a token is sent with every call', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stowage-node-tokens-'));
  const tokensFile = path.join(dir, 'tokens.json');
  const token = await new Promise((resolve, reject) => {
    execFile(
      STOWAGE,
      ['token', 'create', '--tokens-file', tokensFile, '--role', 'viewer', '--name', 'node'],
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    );
  });
  const guarded = spawn(
    STOWAGE,
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data'),
      '--tokens-file', tokensFile],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    const guardedAddress = await new Promise((resolve, reject) => {
      let log = '';
      guarded.stderr.on('data', (chunk) => {
        log += chunk;
        const m = /stowage serving on 127\.0\.0\.1:(\d+)/.exec(log);
        if (m) resolve(`127.0.0.1:${m[1]}`);
      });
      guarded.on('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
    });
    const anonymous = new lib.Client(guardedAddress);
    const viewer = new lib.Client(guardedAddress, { token });
    try {
      await assert.rejects(anonymous.getEnvironment('absent'), (e) => {
        assert.equal(e.code, 'UNAUTHENTICATED');
        assert.equal(e.reason, 'UNAUTHENTICATED');
        return true;
      });
      await assert.rejects(viewer.getEnvironment('absent'), (e) => e.code === 'NOT_FOUND');
    } finally {
      anonymous.close();
      viewer.close();
    }
  } finally {
    guarded.kill('SIGTERM');
  }
});
