'use strict';
// A Node.js client of Stowage over the same contract as every other client:
// the .proto files in protos/ (plus the google.rpc types staged in
// third_party/protos by `python scripts/protos.py deps third_party/protos`).
//
// Calls return promises; failures reject with a StowageError carrying the
// gRPC status name, the ErrorInfo reason and its metadata, decoded from the
// google.rpc.Status a server sends in the grpc-status-details-bin trailer.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const ROOT = path.resolve(__dirname, '..', '..');
const INCLUDE_DIRS = [path.join(ROOT, 'protos'), path.join(ROOT, 'third_party', 'protos')];
// Every file of the contract, so that every service is known.
const SERVICE_FILES = fs
  .readdirSync(path.join(ROOT, 'protos', 'stowage', 'v1'))
  .filter((f) => f.endsWith('.proto'))
  .sort()
  .map((f) => `stowage/v1/${f}`);
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';
// Deadline of every unary call, and how long a watch may stay silent before it
// is reopened after the last event seen.
const CALL_TIMEOUT_MS = 60_000;
const WATCH_IDLE_MS = 30_000;
// A watcher gives up when the server stays unreachable this long.
const RECONNECT_FOR_MS = 60_000;
const PIECE = 1 << 20;
// Codes after which a watch is reopened rather than failed.
const TRANSIENT = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);
const READ_PREFIXES = ['Get', 'List', 'Watch', 'Read', 'Export', 'Find'];

function requireStagedProtos() {
  const status = path.join(ROOT, 'third_party', 'protos', 'google', 'rpc', 'status.proto');
  if (!fs.existsSync(status)) {
    throw new Error('google.rpc protos missing: run `python scripts/protos.py deps third_party/protos`');
  }
}

let loaded = null;

// The service definitions and the google.rpc decoders, loaded once.
function contract() {
  if (loaded) return loaded;
  requireStagedProtos();
  const definition = protoLoader.loadSync(SERVICE_FILES, {
    includeDirs: INCLUDE_DIRS,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition).stowage.v1;
  const rpcTypes = new protobuf.Root();
  rpcTypes.resolvePath = (origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/*: bundled with protobufjs
  };
  rpcTypes.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  loaded = {
    definition,
    pkg,
    Status: rpcTypes.lookupType('google.rpc.Status'),
    ErrorInfo: rpcTypes.lookupType('google.rpc.ErrorInfo'),
  };
  return loaded;
}

// Methods gRPC may retry by itself: reads, and writes whose request carries a
// request_id (a repeated request returns the first result). Derived from the
// contract so that a new RPC is classified by its name and request shape.
function idempotentMethods() {
  const { definition } = contract();
  const methods = [];
  for (const [service, def] of Object.entries(definition)) {
    if (!service.startsWith('stowage.v1.') || def.format) continue; // messages and enums
    for (const [method, m] of Object.entries(def)) {
      const fields = m.requestType.type.field.map((f) => f.name);
      const read = READ_PREFIXES.some((p) => method.startsWith(p));
      if (read || (!m.requestStream && (fields.includes('requestId') || fields.includes('request_id')))) {
        methods.push({ service, method });
      }
    }
  }
  return methods;
}

function serviceConfig() {
  return JSON.stringify({
    methodConfig: [
      {
        name: idempotentMethods(),
        retryPolicy: {
          maxAttempts: 5,
          initialBackoff: '0.1s',
          maxBackoff: '2s',
          backoffMultiplier: 2,
          retryableStatusCodes: ['UNAVAILABLE'],
        },
      },
    ],
  });
}

class StowageError extends Error {
  constructor(code, reason, message, metadata = {}) {
    super(message);
    this.name = 'StowageError';
    this.code = code; // the gRPC status name, e.g. FAILED_PRECONDITION
    this.reason = reason; // the ErrorInfo reason, e.g. RESTORE_EDITION_TOO_LOW
    this.metadata = metadata;
  }

  // `CODE REASON: message`, the form every Stowage client prints.
  line() {
    return `${this.code}${this.reason ? ` ${this.reason}` : ''}: ${this.message}`;
  }
}

function codeName(code) {
  return grpc.status[code] || 'UNKNOWN';
}

// A StowageError from a google.rpc.Status, given decoded ({code, message,
// details: [{typeUrl, value}]}) or as its wire bytes.
function errorFromStatus(status) {
  const { Status, ErrorInfo } = contract();
  const s = Buffer.isBuffer(status) ? Status.toObject(Status.decode(status)) : status;
  let reason = '';
  let metadata = {};
  for (const detail of s.details || []) {
    const typeUrl = detail.typeUrl || detail.type_url;
    if (typeUrl === ERROR_INFO_TYPE) {
      const info = ErrorInfo.decode(detail.value);
      reason = info.reason;
      metadata = { ...info.metadata };
    }
  }
  return new StowageError(codeName(s.code || 0), reason, s.message || '', metadata);
}

// A StowageError from a failed call (grpc-js ServiceError).
function errorFromCall(err) {
  const details = err.metadata ? err.metadata.get(STATUS_DETAILS_KEY) : [];
  if (details.length) {
    const e = errorFromStatus(Buffer.from(details[0]));
    if (e.code === codeName(err.code)) return e;
  }
  return new StowageError(codeName(err.code), '', err.details || err.message);
}

function deadline(ms = CALL_TIMEOUT_MS) {
  return new Date(Date.now() + ms);
}

function environmentName(env) {
  return env.startsWith('environments/') ? env : `environments/${env}`;
}

// Adds `authorization: Bearer <token>` to every call. An interceptor rather
// than call credentials: grpc sends those over TLS only, and a server on
// loopback may take tokens without TLS.
function tokenInterceptor(token) {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

// TLS when a CA bundle or a client certificate is given (PEM file paths).
function channelCredentials({ tls = false, tlsCa, tlsCert, tlsKey }) {
  if (!tls && !tlsCa && !tlsCert && !tlsKey) return grpc.credentials.createInsecure();
  const read = (file) => (file ? fs.readFileSync(file) : null);
  return grpc.credentials.createSsl(read(tlsCa), read(tlsKey), read(tlsCert));
}

class Client {
  constructor(
    address,
    { timeoutMs = CALL_TIMEOUT_MS, token, tls, tlsCa, tlsCert, tlsKey } = {},
  ) {
    const { pkg } = contract();
    const credentials = channelCredentials({ tls, tlsCa, tlsCert, tlsKey });
    const options = {
      'grpc.service_config': serviceConfig(),
      'grpc.enable_retries': 1,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      'grpc.max_reconnect_backoff_ms': 5_000,
    };
    if (token) options.interceptors = [tokenInterceptor(token)];
    this.timeoutMs = timeoutMs;
    this.environments = new pkg.EnvironmentService(address, credentials, options);
    this.backups = new pkg.BackupService(address, credentials, options);
    this.operations = new pkg.OperationService(address, credentials, options);
  }

  close() {
    this.environments.close();
    this.backups.close();
    this.operations.close();
  }

  // One unary call with a deadline; rejects with a StowageError.
  unary(stub, method, request) {
    return new Promise((resolve, reject) => {
      stub[method](request, { deadline: deadline(this.timeoutMs) }, (err, response) => {
        if (err) reject(errorFromCall(err));
        else resolve(response);
      });
    });
  }

  provisionEnvironment(env, edition, { region = '', settings = null, requestId = '' } = {}) {
    return this.unary(this.environments, 'ProvisionEnvironment', {
      environmentId: env,
      environment: { edition, region, settings },
      requestId: requestId || crypto.randomUUID(),
    });
  }

  getEnvironment(env) {
    return this.unary(this.environments, 'GetEnvironment', { name: environmentName(env) });
  }

  // Uploads one artifact: `collection` as in its resource name ("assemblies").
  putArtifact(env, collection, artifactId, content, metadata = {}) {
    return new Promise((resolve, reject) => {
      const call = this.environments.PutArtifact(
        { deadline: deadline(3_600_000) },
        (err, artifact) => (err ? reject(errorFromCall(err)) : resolve(artifact)),
      );
      const name = `${environmentName(env)}/${collection}/${artifactId}`;
      call.write({ artifact: { name, metadata } });
      for (let i = 0; i < content.length; i += PIECE) {
        call.write({ data: content.subarray(i, i + PIECE) });
      }
      call.end();
    });
  }

  createBackup(env, { requestId = '', quiesce = false, allowBatchLoss = false } = {}) {
    return this.unary(this.backups, 'CreateBackup', {
      parent: environmentName(env),
      requestId: requestId || crypto.randomUUID(),
      quiesce,
      allowBatchLoss,
    });
  }

  restoreBackup(backup, to, { edition = 'EDITION_UNSPECIFIED', validateOnly = false, requestId = '' } = {}) {
    return this.unary(this.backups, 'RestoreBackup', {
      backup,
      environmentId: to,
      edition,
      validateOnly,
      requestId: requestId || crypto.randomUUID(),
    });
  }

  getOperation(name) {
    return this.unary(this.operations, 'GetOperation', { name });
  }

  // Calls onEvent for every event after `afterSequence` up to the terminal
  // one, exactly once and in order, reopening the stream after the last
  // sequence seen when it breaks or stays silent; resolves with the finished
  // Operation.
  watchOperation(name, onEvent, { afterSequence = 0, idleMs = WATCH_IDLE_MS, reconnectForMs = RECONNECT_FOR_MS } = {}) {
    let last = Number(afterSequence);
    let giveUp = Date.now() + reconnectForMs;
    let pause = 100;
    return new Promise((resolve, reject) => {
      const open = () => {
        let finished = false;
        let stalled = false;
        const call = this.operations.WatchOperation({ name, afterSequence: String(last) });
        let timer = setTimeout(stall, idleMs);
        function stall() {
          stalled = true;
          call.cancel();
        }
        const settle = () => {
          clearTimeout(timer);
          finished = true;
        };
        call.on('data', (event) => {
          clearTimeout(timer);
          timer = setTimeout(stall, idleMs);
          giveUp = Date.now() + reconnectForMs;
          pause = 100;
          last = Number(event.sequence);
          onEvent(event);
          if (event.operation) {
            settle();
            call.cancel();
            resolve(event.operation);
          }
        });
        call.on('end', () => {
          if (finished) return;
          settle();
          // Ended without a terminal event: ask whether the operation is done.
          this.getOperation(name).then(
            (op) => (op.done ? resolve(op) : retry()),
            retry,
          );
        });
        call.on('error', (err) => {
          if (finished) return;
          settle();
          if (stalled) probe();
          else if (TRANSIENT.has(err.code)) retry(err);
          else reject(errorFromCall(err));
        });
      };
      // Silent, not broken: ask whether the server is there and the work is done.
      const probe = () => {
        this.getOperation(name).then(
          (op) => {
            giveUp = Date.now() + reconnectForMs;
            if (op.done && Number(op.lastSequence) <= last) resolve(op);
            else open();
          },
          retry,
        );
      };
      const retry = (err) => {
        if (Date.now() > giveUp) {
          reject(err ? errorFromCall(err) : new StowageError('UNAVAILABLE', '', `${name}: no answer from the server`));
          return;
        }
        setTimeout(open, pause);
        pause = Math.min(pause * 2, 2000);
      };
      open();
    });
  }
}

// The error a finished, unsuccessful operation stands for.
function operationError(op) {
  if (op.error && op.error.code) return errorFromStatus(op.error);
  return new StowageError('UNKNOWN', '', `${op.name} ended ${op.state} without an error`);
}

// Watches an operation to its end; resolves with it when it succeeded and
// rejects with its StowageError otherwise.
async function waitForOperation(client, op, onEvent) {
  const done = op.done ? op : await client.watchOperation(op.name, onEvent);
  if (done.state !== 'STATE_SUCCEEDED') throw operationError(done);
  return done;
}

module.exports = {
  Client,
  StowageError,
  errorFromCall,
  errorFromStatus,
  idempotentMethods,
  operationError,
  serviceConfig,
  waitForOperation,
};
