'use strict'

// npm run bench:profile -- [config=login] [baseline=session] [--clients 4096]
//
// Where a configuration's instructions go, function by function, next to its
// baseline: one run of each under callgrind as in bench/cost.js (at one client
// count: --clients or BENCH_COST_CLIENTS, default 64), with
// --dump-instr=yes and node --perf-basic-prof, so that V8's generated code
// (which has no symbols) is named from the /tmp/perf-<pid>.map V8 writes. Per
// request = (window 2 - window 1) / (N2 - N1), like the measure. GC and
// compilation are left out: every function that only runs inside them.
//
// Prints the totals per area (fastify-login, @fastify/session, fastify, V8
// builtins by kind, ...), the functions whose cost differs most, and the plugin's
// own functions with their inclusive cost (what they call included).
// Env: BENCH_PROFILE_INLINING=0 profiles without TurboFan inlining (each JS
// function keeps its own cost, at the price of call overhead that the real run
// does not pay); BENCH_PROFILE_TOP (default 40); the BENCH_COST_* counts.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parse, isJit } = require('./lib/callgrind')
const { inside, GC, JIT } = require('./lib/split')
const { runChild, settings, forRow, envInt } = require('./lib/valgrind')
const { row: findRow } = require('./configs')
const { fmt, option, counts } = require('./lib/stats')

const argv = process.argv.slice(2)
const COUNTS = settings(counts(option(argv, 'clients', 'BENCH_COST_CLIENTS', '64'), '--clients')[0])
const ARGS = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1] === '--clients'))
const TOP = envInt('BENCH_PROFILE_TOP', 40)
const INLINING = process.env.BENCH_PROFILE_INLINING !== '0'
const ROOT = path.resolve(__dirname, '..')

// Not collected at all: a scavenge, a compilation, a deoptimisation. Callgrind
// switches collection off on entry to these functions and on again on return,
// so the functions they share with the requests (memcpy, malloc, heap helpers)
// keep only the requests' part. A function toggled inside another toggled one
// would switch collection back on: checkToggles() says so when it happens.
const TOGGLED = [
  'v8::internal::Heap::CollectGarbage(*',
  'v8::internal::Runtime_CompileLazy(*',
  'v8::internal::Runtime_CompileOptimized(*',
  'v8::internal::Runtime_CompileOptimizedOSR(*',
  'v8::internal::Runtime_NotifyDeoptimized(*'
]
// (--toggle-collect implies --collect-atstart=no unless told otherwise.)
const TOGGLES = [...TOGGLED.map((fn) => `--toggle-collect=${fn}`), '--collect-atstart=yes']

/** V8's perf map: sorted [start, end, name] for binary search. */
function readPerfMap (file) {
  const entries = []
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line)
    if (m) entries.push([parseInt(m[1], 16), parseInt(m[1], 16) + parseInt(m[2], 16), m[3]])
  }
  // No full GC runs (bench/lib/valgrind.js), so no code is freed and no address is
  // reused: the last entry covering an address is the one.
  entries.sort((a, b) => a[0] - b[0])
  return entries
}

function lookup (entries, addr) {
  let lo = 0
  let hi = entries.length - 1
  let found = null
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (entries[mid][0] <= addr) { found = mid; lo = mid + 1 } else hi = mid - 1
  }
  // Overlapping entries (code logged twice): look back a little for a cover.
  for (let i = found; i !== null && i >= 0 && i > found - 8; i--) {
    if (entries[i][0] <= addr && addr < entries[i][1]) return entries[i][2]
  }
  return null
}

/** "JS:*name /path/file.js:12:3" -> "name (file.js:12)" and its area. */
function jsName (raw) {
  if (raw === null) return { name: 'unnamed generated code', area: 'V8 generated code (other)' }
  const m = /^(JS|LazyCompile|Function):([*^+~]?)(\S*) (.*?)(?::(\d+):\d+)?$/.exec(raw)
  if (!m) {
    if (raw.startsWith('RegExp:')) return { name: raw.slice(0, 60), area: 'regular expressions (generated)' }
    return { name: raw.slice(0, 60), area: 'V8 generated code (other)' }
  }
  const file = m[4].replace(ROOT + '/', '')
  const short = `${m[3] || '(anonymous)'} (${file.replace(/^node_modules\//, '')}${m[5] ? ':' + m[5] : ''})`
  return { name: short, area: areaOfFile(file) }
}

function areaOfFile (file) {
  if (file.startsWith('dist/')) return 'fastify-login (dist/)'
  if (file.startsWith('bench/')) return 'bench harness'
  if (file.startsWith('node:')) return 'node core (JS)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)
  if (m) return m[1]
  return 'other JS'
}

function areaOfSymbol (name, object) {
  if (name.startsWith('Builtins_')) {
    if (/Promise|Async|Microtask|Await|Generator|Resolve|Reject|Then/.test(name)) return 'V8 builtins: promises, async'
    if (/IC|Keyed|Megamorphic|Property|Lookup|SetData|CreateData|CloneObject|ForIn|ObjectKeys|ObjectAssign|HasProperty/.test(name)) return 'V8 builtins: property access'
    if (/String|RegExp|Json|JSON/.test(name)) return 'V8 builtins: strings, regexps, JSON'
    if (/Call|Construct|Interpreter|Handler|JSEntry|Apply|Bound|Reflect/.test(name)) return 'V8 builtins: calls, interpreter'
    if (/Allocate|RecordWrite|Array|Map|Set|Collection|Hash|Ordered/.test(name)) return 'V8 builtins: allocation, collections'
    return 'V8 builtins: other'
  }
  if (name.startsWith('v8::internal::Runtime_')) return 'V8 runtime calls (C++)'
  if (name.startsWith('v8::') || name.includes(' v8::internal::') || name.startsWith('heap::')) return 'V8 C++ (API, runtime helpers)'
  if (name.startsWith('node::') || name.includes(' node::')) return 'node C++ (bindings)'
  if (/^(sha|SHA|EVP_|HMAC|ossl_|OSSL_|CRYPTO_|OPENSSL_|evp_|hmac_|md_|aesni_|gcm_|ERR_|RAND_|BN_)/.test(name)) return 'OpenSSL (crypto)'
  if (object && /libc\.so|ld-linux|libstdc\+\+|libm\.so|libgcc/.test(object)) return 'libc, libstdc++'
  if (name.startsWith('uv_') || name.startsWith('uv__')) return 'libuv'
  return 'other native'
}

function checkToggles (data, file) {
  for (const [name, e] of data.fns) {
    if (e.self > 0 && TOGGLED.some((t) => name.startsWith(t.slice(0, -1)))) {
      console.warn(`WARNING: ${name.slice(0, 80)} was collected in ${path.basename(file)} (a toggled function ran inside another): ` +
        'GC or compilation costs are mixed into the figures')
    }
  }
}

/**
 * Per-function costs of one window: Map<key, { name, area, self, inclusive, js }>.
 * `inclusive` is only filled for generated JS code: its self cost plus what it calls.
 */
function functionCosts (file, perfMap) {
  const data = parse(file, { addresses: true })
  checkToggles(data, file)
  const leftOut = new Set([...inside(data, GC).within, ...inside(data, JIT).within])
  const out = new Map()
  const add = (key, name, area, field, cost, js = false) => {
    let e = out.get(key)
    if (e === undefined) out.set(key, (e = { name, area, self: 0, inclusive: 0, js }))
    e[field] += cost
  }
  const nameAt = new Map()
  const jsAt = (addr) => {
    let n = nameAt.get(addr)
    if (n === undefined) nameAt.set(addr, (n = jsName(lookup(perfMap, addr))))
    return n
  }
  for (const [name, e] of data.fns) {
    if (isJit(name) || leftOut.has(name) || e.self === 0) continue
    add(name, name, areaOfSymbol(name, e.object), 'self', e.self)
  }
  for (const [addr, cost] of data.byAddress) {
    const n = jsAt(addr)
    add('js:' + n.name, n.name, n.area, 'self', cost, true)
    add('js:' + n.name, n.name, n.area, 'inclusive', cost, true)
  }
  for (const call of data.jitCalls) {
    if (leftOut.has(call.callee)) continue
    const from = jsAt(call.from)
    // A call into generated code: skip calls to itself (loops, recursion).
    if (isJit(call.callee) && jsAt(parseInt(call.callee, 16)).name === from.name) continue
    add('js:' + from.name, from.name, from.area, 'inclusive', call.inclusive, true)
  }
  return { total: data.total, functions: out }
}

async function profile (config, dir) {
  const out = path.join(dir, `${config}.out`)
  const nodeFlags = ['--perf-basic-prof', ...(INLINING ? [] : ['--no-turbo-inlining'])]
  console.log(`profiling ${config} under callgrind, ${COUNTS.clients} clients (a minute or two)`)
  const run = await runChild(config, { out, counts: forRow(COUNTS, findRow(config)), callgrindFlags: ['--dump-instr=yes', ...TOGGLES], nodeFlags })
  const mapFile = `/tmp/perf-${run.report.pid}.map`
  const perfMap = readPerfMap(mapFile)
  fs.rmSync(mapFile, { force: true })
  const [w1, w2] = run.windows.map((file) => functionCosts(file, perfMap))
  const n = COUNTS.n2 - COUNTS.n1
  const perRequest = new Map()
  for (const [key, b] of w2.functions) {
    const a = w1.functions.get(key)
    perRequest.set(key, {
      ...b,
      self: (b.self - (a?.self ?? 0)) / n,
      inclusive: (b.inclusive - (a?.inclusive ?? 0)) / n
    })
  }
  for (const [key, a] of w1.functions) {
    if (!perRequest.has(key)) perRequest.set(key, { ...a, self: -a.self / n, inclusive: -a.inclusive / n })
  }
  return perRequest
}

function byArea (fns) {
  const areas = new Map()
  for (const f of fns.values()) areas.set(f.area, (areas.get(f.area) ?? 0) + f.self)
  return areas
}

function table (head, rows) {
  const widths = head.map((_, i) => Math.max(...[head, ...rows].map((r) => String(r[i]).length)))
  for (const r of [head, ...rows]) {
    console.log(r.map((v, i) => i === r.length - 1 ? String(v) : String(v).padStart(widths[i])).join('  '))
  }
}

async function main () {
  const config = ARGS[0] || 'login'
  const baseline = ARGS[1] || 'session'
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-profile-'))
  let a, b
  try {
    [a, b] = await Promise.all([profile(baseline, dir), profile(config, dir)])
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const sum = (m) => [...m.values()].reduce((s, f) => s + f.self, 0)
  console.log(`\ninstructions per request, ${COUNTS.clients} clients, GC and compilation left out${INLINING ? '' : ', TurboFan inlining off'}: ` +
    `${baseline} ${fmt(sum(a))}, ${config} ${fmt(sum(b))}, difference ${fmt(sum(b) - sum(a))}\n`)

  const areasA = byArea(a)
  const areasB = byArea(b)
  const areaRows = [...new Set([...areasA.keys(), ...areasB.keys()])]
    .map((k) => [areasA.get(k) ?? 0, areasB.get(k) ?? 0, k])
    .sort((x, y) => Math.abs(y[1] - y[0]) - Math.abs(x[1] - x[0]))
    .map(([x, y, k]) => [fmt(x), fmt(y), fmt(y - x), k])
  console.log('by area (self cost):')
  table([baseline, config, 'diff', 'area'], areaRows)

  const keys = new Set([...a.keys(), ...b.keys()])
  const fnRows = [...keys]
    .map((k) => ({ k, x: a.get(k)?.self ?? 0, y: b.get(k)?.self ?? 0, f: a.get(k) ?? b.get(k) }))
    .filter((r) => Math.abs(r.y - r.x) >= 1)
    .sort((p, q) => Math.abs(q.y - q.x) - Math.abs(p.y - p.x))
    .slice(0, TOP)
    .map((r) => [fmt(r.x), fmt(r.y), fmt(r.y - r.x), `${r.f.name.slice(0, 110)}  [${r.f.area}]`])
  console.log(`\nthe ${TOP} functions whose self cost differs most:`)
  table([baseline, config, 'diff', 'function'], fnRows)

  const own = [...b.values()].filter((f) => f.area === 'fastify-login (dist/)').sort((p, q) => q.inclusive - p.inclusive)
  console.log(`\nfastify-login's own functions in ${config} (inclusive = self + what it calls, incl. other JS):`)
  table(['self', 'inclusive', 'function'], own.map((f) => [fmt(f.self), fmt(f.inclusive), f.name]))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
