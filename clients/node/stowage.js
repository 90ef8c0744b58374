#!/usr/bin/env node
'use strict';
// The Node.js command for Stowage's two long operations:
//
//   node clients/node/stowage.js --server ADDR backup ENV
//   node clients/node/stowage.js --server ADDR restore BACKUP --to NAME [--edition premium]
//
// Prints one line per progress event, then the resulting resource name (the
// backup, or the restored environment). A failure exits 1 with one line on
// stderr: `error: CODE REASON: message`. Usage errors exit 2. STOWAGE_TOKEN,
// STOWAGE_TLS_CA, STOWAGE_TLS_CERT and STOWAGE_TLS_KEY are used when set.

const lib = require('./lib');

const USAGE = 'usage: stowage.js [--server ADDR] backup ENV | restore BACKUP --to NAME [--edition EDITION]';
const DEFAULT_SERVER = process.env.STOWAGE_SERVER || '127.0.0.1:50051';

class UsageError extends Error {}

function parse(argv) {
  const args = { server: DEFAULT_SERVER, positional: [], to: '', edition: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--server') args.server = value();
    else if (a === '--to') args.to = value();
    else if (a === '--edition') args.edition = value();
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else args.positional.push(a);
  }
  const [command, target, ...rest] = args.positional;
  if (rest.length || !target) throw new UsageError(USAGE);
  if (command === 'restore' && !args.to) throw new UsageError('restore needs --to NAME');
  if (command !== 'backup' && command !== 'restore') throw new UsageError(USAGE);
  return { ...args, command, target };
}

// `seq=3 phase=upload items=2/10 bytes=1048576/31457280`: totals read 0 while unknown.
function progressLine(event) {
  const p = event.progress || {};
  return (
    `seq=${event.sequence} phase=${p.phase || '-'} ` +
    `items=${p.itemsDone}/${p.itemsTotal} bytes=${p.bytesDone}/${p.bytesTotal}`
  );
}

async function run(args, out = process.stdout) {
  // The same variables as the Python CLI: a bearer token and TLS settings.
  const env = process.env;
  const client = new lib.Client(args.server, {
    token: env.STOWAGE_TOKEN,
    tls: Boolean(env.STOWAGE_TLS),
    tlsCa: env.STOWAGE_TLS_CA,
    tlsCert: env.STOWAGE_TLS_CERT,
    tlsKey: env.STOWAGE_TLS_KEY,
  });
  const show = (event) => out.write(`${progressLine(event)}\n`);
  try {
    if (args.command === 'backup') {
      const op = await client.createBackup(args.target);
      const done = await lib.waitForOperation(client, op, show);
      out.write(`${done.backup.name}\n`);
    } else {
      const edition = args.edition ? `EDITION_${args.edition.toUpperCase()}` : undefined;
      const op = await client.restoreBackup(args.target, args.to, edition ? { edition } : {});
      const done = await lib.waitForOperation(client, op, show);
      out.write(`${done.restore.environment}\n`);
    }
  } finally {
    client.close();
  }
}

async function main(argv) {
  let args;
  try {
    args = parse(argv);
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    return 2;
  }
  try {
    await run(args);
    return 0;
  } catch (e) {
    const line = e instanceof lib.StowageError ? e.line() : e.message;
    process.stderr.write(`error: ${line}\n`);
    return 1;
  }
}

module.exports = { ...lib, parse, progressLine, run, main };

if (require.main === module) {
  main(process.argv.slice(2)).then((status) => {
    process.exitCode = status;
  });
}
