'use strict'

// npm run bench:cost [-- --clients 64,4096 --configs login,logins]
//
// Instructions per request, counted by valgrind's callgrind. For each client count
// and each row of bench/configs.js, REPEATS fresh processes each run
// bench/lib/cost-child.js under `setarch -R valgrind --tool=callgrind node
// --predictable ...` (bench/lib/valgrind.js). In each process two windows of N1
// and N2 requests are dumps of their own; each dump is split into GC, compilation
// and the rest (bench/lib/split.js); the request work per request is
// (rest of window 2 - rest of window 1) / (N2 - N1). Prints a table and the
// targets per client count, writes the `cost` section of bench/results.json.
// See bench/README.md.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parse } = require('./lib/callgrind')
const { split } = require('./lib/split')
const { ROWS, COST_TARGETS, withBaselines } = require('./configs')
const { runChild, settings, forRow, envInt, NODE_FLAGS, CALLGRIND_FLAGS } = require('./lib/valgrind')
const { judge, printTargets, table, fmt, pct, median, spread, round, writeSection, list, option, counts } = require('./lib/stats')
const { build } = require('./lib/app')
const { makeClient } = require('./lib/clients')

const argv = process.argv.slice(2)
const CLIENTS = counts(option(argv, 'clients', 'BENCH_COST_CLIENTS', '64,4096'), '--clients')
const ONLY = list(option(argv, 'configs', 'BENCH_COST_CONFIGS', ''))
const REPEATS = envInt('BENCH_COST_REPEATS', 3)
const JOBS = envInt('BENCH_COST_JOBS', os.cpus().length)
const KEEP = process.env.BENCH_COST_KEEP === '1'

// A row that needs a plugin option is skipped while the plugin does not know it.
async function unsupported (row) {
  if (!row.requires) return null
  try {
    const app = await build(row)
    await app.close()
    return null
  } catch (err) {
    return `skipped: fastify-login does not accept the "${row.requires}" option yet (${err.message})`
  }
}

async function measure (row, counts, repeat, dir) {
  // Each repeat lays the heap out differently (bench/lib/cost-child.js), the same one for every row.
  const run = await runChild(row.name, { out: path.join(dir, `${row.name}.${counts.clients}.${repeat}.out`), counts: forRow(counts, row), layout: repeat })
  const [w1, w2] = run.windows.map((file) => split(parse(file)))
  if (!KEEP) for (const file of run.files) fs.rmSync(file, { force: true })
  const { n1, n2 } = counts
  const request = (w2.request - w1.request) / (n2 - n1)
  console.log(`  ${row.name} x ${counts.clients} clients #${repeat + 1}: ${fmt(request)} instr/req (${Math.round(run.seconds)} s)`)
  return {
    name: row.name,
    clients: counts.clients,
    request,
    // Side figures, over both windows (GC and compilation come in lumps).
    gc: (w1.gc + w2.gc) / (n1 + n2),
    jit: (w1.jit + w2.jit) / (n1 + n2),
    window1: w1.request / n1,
    window2: w2.request / n2,
    fullGcs: w1.fullGcs + w2.fullGcs,
    sessionsInStore: run.report.sessionsInStore,
    seconds: run.seconds
  }
}

// Runs the jobs JOBS at a time. Instruction counts do not depend on timing, so
// running them side by side changes nothing but the wall-clock time.
async function runAll (jobs) {
  const results = new Array(jobs.length)
  let next = 0
  async function worker () {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(JOBS, jobs.length) }, worker))
  return results
}

function summarize (runs) {
  const values = runs.map((r) => r.request)
  return {
    instructionsPerRequest: Math.round(median(values)),
    spread: spread(values),
    gcPerRequest: Math.round(median(runs.map((r) => r.gc))),
    jitPerRequest: Math.round(median(runs.map((r) => r.jit))),
    fullGcsInWindows: runs.reduce((n, r) => n + r.fullGcs, 0),
    repeats: runs.map((r) => ({
      instructionsPerRequest: Math.round(r.request),
      window1PerRequest: Math.round(r.window1),
      window2PerRequest: Math.round(r.window2),
      gcPerRequest: Math.round(r.gc),
      jitPerRequest: Math.round(r.jit),
      sessionsInStore: r.sessionsInStore,
      seconds: Math.round(r.seconds)
    }))
  }
}

function checkValgrind () {
  const res = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  if (res.error || res.status !== 0) {
    throw new Error('valgrind not found: install it (apt-get install -y valgrind) to run bench:cost')
  }
  return res.stdout.trim()
}

function printTable (rows, configs) {
  const lines = rows.map((r) => {
    const c = configs[r.name]
    if (c.skipped) return [r.name, '-', '-', r.baseline ?? '', '-', '-', '-', c.skipped]
    return [r.name, fmt(c.instructionsPerRequest), c.ratio == null ? '' : c.ratio.toFixed(4), r.baseline ?? '',
      pct(c.spread, 3), fmt(c.gcPerRequest), fmt(c.jitPerRequest), r.about]
  })
  table(['config', 'instr/req', 'ratio', 'vs', 'spread', 'GC/req', 'JIT/req', 'what'], lines, new Set([1, 2, 4, 5, 6]))
}

async function main () {
  const started = Date.now()
  const valgrind = checkValgrind()
  const rows = withBaselines(ONLY, ROWS, COST_TARGETS)
  const skipped = {}
  const active = []
  for (const r of rows) {
    const why = await unsupported(r)
    if (why) skipped[r.name] = { skipped: why }
    else active.push(r)
  }
  const sample = makeClient(0)
  const plans = CLIENTS.map((n) => settings(n))
  console.log(`bench:cost: ${active.length} configs x ${CLIENTS.join(' and ')} clients x ${REPEATS} repeats under callgrind (${valgrind}), ` +
    `${JOBS} at a time; User-Agent ${sample.headers['user-agent'].length} bytes, address ${sample.address.length} bytes; ` +
    `each client back every ${plans[0].visitEvery / 1000} s of the app's clock unless its row says otherwise`)
  for (const [name, c] of Object.entries(skipped)) console.log(`  ${name}: ${c.skipped}`)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cost-'))
  const jobs = []
  // Repeat-major order: the repeats of one configuration do not run side by side.
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const plan of plans) for (const r of active) jobs.push(() => measure(r, plan, repeat, dir))
  }
  let results
  try {
    results = await runAll(jobs)
  } finally {
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else console.log(`callgrind files kept in ${dir}`)
  }

  const byClients = {}
  let worst = 0
  for (const plan of plans) {
    const configs = { ...skipped }
    for (const r of active) configs[r.name] = summarize(results.filter((x) => x.name === r.name && x.clients === plan.clients))
    for (const r of active) {
      const c = configs[r.name]
      const base = r.baseline ? configs[r.baseline] : null
      c.baseline = r.baseline
      c.ratio = base && !base.skipped ? round(base.instructionsPerRequest / c.instructionsPerRequest, 4) : null
      worst = Math.max(worst, c.spread)
      if (c.fullGcsInWindows > 0) {
        console.warn(`WARNING: ${r.name} x ${plan.clients}: a full GC started inside a window (${c.fullGcsInWindows} in all repeats); ` +
          'its figures are less steady: lower BENCH_COST_WARMUP or raise --initial-old-space-size in bench/lib/valgrind.js')
      }
    }
    const figures = Object.fromEntries(Object.entries(configs).map(([k, c]) => [k, { ...c, cost: c.instructionsPerRequest }]))
    const targets = judge(COST_TARGETS, figures)
    console.log(`\n${plan.clients} clients round-robin (windows of ${plan.n1} and ${plan.n2} requests after ${plan.warmup}):`)
    printTable(rows, configs)
    const spreads = active.map((r) => configs[r.name].spread)
    console.log(`repeat spread ((max - min) / median of ${REPEATS}): worst ${pct(Math.max(...spreads), 3)}, median ${pct(median(spreads), 3)}`)
    printTargets(targets)
    byClients[plan.clients] = { windows: [plan.n1, plan.n2], configs, targets }
  }
  console.log('\nratio = baseline instr/req / config instr/req (a throughput ratio)')

  const cost = {
    date: new Date().toISOString(),
    node: process.version,
    valgrind,
    command: `setarch -R valgrind ${CALLGRIND_FLAGS.join(' ')} --dump-instr=no node ${NODE_FLAGS.join(' ')} bench/lib/cost-child.js <config>`,
    settings: { repeats: REPEATS, clients: CLIENTS, warmupRequests: plans[0].warmup, visitEveryMs: plans[0].visitEvery },
    unit: 'instructions per request (callgrind Ir), GC and compilation excluded',
    worstSpread: round(worst, 5),
    byClients,
    elapsedSeconds: Math.round((Date.now() - started) / 1000)
  }
  writeSection('cost', cost)
  console.log(`(${cost.elapsedSeconds} s)`)
  const missed = Object.values(byClients).some((c) => c.targets.some((t) => !t.pass))
  if (process.env.BENCH_STRICT === '1' && missed) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
