// A tour of the s3cache component from Node, through the bindings `npm run build` generates
// with jco into ./dist.
import { cache } from './dist/s3cache.js';

const { Credentials, Store } = cache;

// jco's ComponentError prints as "[object Object]"; the error variant is in its payload.
process.on('uncaughtException', (e) => {
  console.error(e?.payload ? `s3cache error: ${e.payload.tag}: ${e.payload.val}` : e);
  process.exit(1);
});

const enc = new TextEncoder();
const dec = new TextDecoder();

// JSON.stringify refuses BigInt, which is what s64 results come back as.
const show = (v) =>
  v === undefined ? 'undefined'
  : typeof v === 'bigint' ? `${v}n`
  : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

let failures = 0;
function check(what, actual, expected) {
  const ok = show(actual) === show(expected);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what} -> ${show(actual)}`);
  if (!ok) {
    console.log(`     expected ${show(expected)}`);
    failures++;
  }
}

// jco maps the WIT record to camelCase fields, list<tuple<string, string>> to an array of
// pairs, variants to { tag, val }, s64 to BigInt, and resources to classes (the credentials
// are one, so the secret never shows when the config is logged).
const store = Store.open({
  bucket: 's3cache',
  credentials: new Credentials(
    process.env.AWS_ACCESS_KEY_ID ?? '',
    process.env.AWS_SECRET_ACCESS_KEY ?? '',
    process.env.AWS_SESSION_TOKEN,
  ),
  // Every other setting of s3cache's table, by name and as text; the rest keep their defaults.
  settings: [
    ['endpoint', process.env.S3CACHE_ENDPOINT ?? 'http://127.0.0.1:9000'],
    ['addressing', 'path'],
    // A location of its own, so the tour never touches other entries in the bucket.
    ['location', 'examples/node'],
    ['create-bucket', 'true'],
  ],
});

const ttl = { tag: 'default' };

// Start from a clean slate so that `add` and `incr` behave the same on every run.
store.deleteMany(['greeting', 'visits', 'missing']);

store.set('greeting', enc.encode('hello'), ttl);
check('get greeting', dec.decode(store.get('greeting')), 'hello');
check('get missing', store.get('missing'), undefined);

check('add greeting (exists)', store.add('greeting', enc.encode('ignored'), ttl), false);
check('add visits (new)', store.add('visits', enc.encode('41'), { tag: 'never' }), true);
check('incr visits', store.incr('visits', 1n), 42n);
check('decr visits by 2', store.decr('visits', 2n), 40n);

const many = store.getMany(['greeting', 'visits', 'missing']);
check('get-many', many.map(([k, v]) => [k, dec.decode(v)]), [['greeting', 'hello'], ['visits', '40']]);

check('delete greeting', store.delete('greeting'), true);
check('has-key greeting', store.hasKey('greeting'), false);

// A result's error arrives as a thrown ComponentError whose payload is the `error` variant.
try {
  store.incr('missing', 1n);
  check('incr missing throws', 'no error', 'no-such-key');
} catch (e) {
  if (e?.payload === undefined) throw e;
  check('incr missing throws', e.payload.tag, 'no-such-key');
}

store[Symbol.dispose]();

if (failures > 0) {
  console.error(`${failures} unexpected result(s)`);
  process.exit(1);
}
console.log('all good');
