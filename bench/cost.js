'use strict'

// npm run bench:cost  (= npm run build && node bench/cost.js)
//
// Instructions per request, counted by valgrind's callgrind: for each configuration
// of bench/cost-configs.js, REPEATS fresh processes each run bench/cost-child.js
// under `setarch -R valgrind --tool=callgrind node --predictable ...`
// (bench/cost-run.js). In each process two windows of N1 and N2 requests are
// dumps of their own; each dump is split into GC, compilation and the rest
// (bench/cost-split.js); the request work per request is
// (rest of window 2 - rest of window 1) / (N2 - N1). Prints a table and the
// targets, writes the `cost` section of bench/results.json (the HTTP figures
// there are kept). See bench/README.md.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parse } = require('./callgrind')
const { split } = require('./cost-split')
const { ROWS, TARGETS } = require('./cost-configs')
const { runChild, settings, envInt, NODE_FLAGS, CALLGRIND_FLAGS } = require('./cost-run')
const { judge, printTable, fmt, pct, median } = require('./cost-report')
const { build } = require('./app')

const COUNTS = settings()
const { n1: N1, n2: N2 } = COUNTS
const REPEATS = envInt('BENCH_COST_REPEATS', 3)
const JOBS = envInt('BENCH_COST_JOBS', os.cpus().length)
const KEEP = process.env.BENCH_COST_KEEP === '1'
const RESULTS_FILE = process.env.BENCH_RESULTS || path.join(__dirname, 'results.json')
const ONLY = process.env.BENCH_COST_CONFIGS
  ? process.env.BENCH_COST_CONFIGS.split(',').map((s) => s.trim()).filter(Boolean)
  : null

function selectedRows () {
  if (!ONLY) return ROWS
  const names = new Set(ONLY)
  for (const name of ONLY) {
    const r = ROWS.find((x) => x.name === name)
    if (!r) throw new Error(`BENCH_COST_CONFIGS: unknown config "${name}", expected one of: ${ROWS.map((x) => x.name).join(', ')}`)
    if (r.baseline) names.add(r.baseline) // a ratio needs its baseline
  }
  for (const t of TARGETS) if (t.than && names.has(t.row)) names.add(t.than)
  return ROWS.filter((r) => names.has(r.name))
}

// A row that needs a plugin option is skipped when the plugin does not know it.
async function unsupported (row) {
  if (!row.requires) return null
  try {
    const app = await build(row.spec)
    await app.close()
    return null
  } catch (err) {
    return `skipped: fastify-login does not accept the "${row.requires}" option yet (${err.message})`
  }
}

async function measure (row, repeat, dir) {
  const run = await runChild(row.name, { out: path.join(dir, `${row.name}.${repeat}.out`), counts: COUNTS })
  const [w1, w2] = run.windows.map((file) => split(parse(file)))
  if (!KEEP) for (const file of run.files) fs.rmSync(file, { force: true })
  const request = (w2.request - w1.request) / (N2 - N1)
  console.log(`  ${row.name} #${repeat + 1}: ${fmt(request)} instr/req (${Math.round(run.seconds)} s)`)
  return {
    name: row.name,
    request,
    // Side figures, over both windows (GC and compilation come in lumps).
    gc: (w1.gc + w2.gc) / (N1 + N2),
    jit: (w1.jit + w2.jit) / (N1 + N2),
    window1: w1.request / N1,
    window2: w2.request / N2,
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
  const mid = median(values)
  return {
    instructionsPerRequest: Math.round(mid),
    spread: (Math.max(...values) - Math.min(...values)) / mid,
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

function writeResults (cost) {
  let results = {}
  if (fs.existsSync(RESULTS_FILE)) results = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8'))
  fs.writeFileSync(RESULTS_FILE, JSON.stringify({ ...results, cost }, null, 2) + '\n')
}

async function main () {
  const started = Date.now()
  const valgrind = checkValgrind()
  const rows = selectedRows()
  const configs = {}
  const active = []
  for (const r of rows) {
    const skipped = await unsupported(r)
    if (skipped) configs[r.name] = { skipped }
    else active.push(r)
  }
  console.log(`bench:cost: ${active.length} configs x ${REPEATS} repeats under callgrind (${valgrind}), ${JOBS} at a time; ` +
    `${COUNTS.clients} clients round-robin, warm-up ${COUNTS.warmup} requests, windows ${N1} and ${N2} requests`)
  for (const [name, c] of Object.entries(configs)) console.log(`  ${name}: ${c.skipped}`)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cost-'))
  const jobs = []
  // Repeat-major order: the repeats of one configuration do not run side by side.
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const r of active) jobs.push(() => measure(r, repeat, dir))
  }
  let results
  try {
    results = await runAll(jobs)
  } finally {
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else console.log(`callgrind files kept in ${dir}`)
  }

  for (const r of active) configs[r.name] = summarize(results.filter((x) => x.name === r.name))
  for (const r of active) {
    const c = configs[r.name]
    const base = r.baseline ? configs[r.baseline] : null
    c.baseline = r.baseline
    c.ratio = base && !base.skipped ? Math.round(base.instructionsPerRequest / c.instructionsPerRequest * 10000) / 10000 : null
    if (c.fullGcsInWindows > 0) {
      console.warn(`WARNING: ${r.name}: a full GC started inside a window (${c.fullGcsInWindows} in all repeats); ` +
        'its figures are less steady: lower BENCH_COST_WARMUP or raise --initial-old-space-size in bench/cost-run.js')
    }
  }
  const targets = judge(TARGETS, configs)

  console.log('')
  printTable(rows, configs)
  const spreads = active.map((r) => configs[r.name].spread)
  console.log(`\nrepeat spread ((max - min) / median of ${REPEATS}): worst ${pct(Math.max(...spreads), 3)}, ` +
    `median ${pct(median(spreads), 3)}; ratio = baseline instr/req / config instr/req (a throughput ratio)`)
  for (const t of targets) {
    console.log(`${t.name.padEnd(18)} ${t.value.toFixed(4)}  target ${t.target.padEnd(17)} ${t.pass ? 'PASS' : 'MISS'}`)
  }

  const cost = {
    date: new Date().toISOString(),
    node: process.version,
    valgrind,
    command: `setarch -R valgrind ${CALLGRIND_FLAGS.join(' ')} --dump-instr=no node ${NODE_FLAGS.join(' ')} bench/cost-child.js <config>`,
    settings: { repeats: REPEATS, clients: COUNTS.clients, warmupRequests: COUNTS.warmup, windows: [N1, N2] },
    unit: 'instructions per request (callgrind Ir), GC and compilation excluded',
    worstSpread: Math.round(Math.max(...spreads) * 100000) / 100000,
    configs,
    targets,
    elapsedSeconds: Math.round((Date.now() - started) / 1000)
  }
  writeResults(cost)
  console.log(`cost section written to ${path.relative(process.cwd(), RESULTS_FILE)} (${cost.elapsedSeconds} s)`)
  if (process.env.BENCH_STRICT === '1' && targets.some((t) => !t.pass)) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
