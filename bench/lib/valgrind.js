'use strict'

// Runs one configuration once under callgrind (bench/lib/cost-child.js) and hands
// back the child's report and the two window dumps. Shared by bench/cost.js (the
// measure) and bench/profile.js (the per-function breakdown).

const { spawn } = require('node:child_process')
const path = require('node:path')

function envInt (name, def) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return n
}

/**
 * Request counts for `clients` clients, from the environment. With fewer clients
 * than a window holds, both windows are whole rounds of the clients; with more,
 * every request of a window is a different client anyway.
 */
function settings (clients) {
  const round = (n) => clients < n ? Math.ceil(n / clients) * clients : n
  const s = {
    clients,
    warmup: envInt('BENCH_COST_WARMUP', 20000),
    n1: round(envInt('BENCH_COST_N1', 640)),
    n2: round(envInt('BENCH_COST_N2', 1920)),
    visitEvery: envInt('BENCH_COST_VISIT_EVERY', 10000)
  }
  if (s.n2 <= s.n1) throw new Error(`BENCH_COST_N2 (${s.n2}) must be larger than BENCH_COST_N1 (${s.n1})`)
  return s
}

/** The settings for one row: its own `visitEvery` (bench/configs.js), if it has one. */
function forRow (counts, row) {
  return row.visitEvery === undefined ? counts : { ...counts, visitEvery: row.visitEvery }
}

// --predictable: V8's deterministic mode: no background threads (compilation and
//   GC run on the main thread, at points that depend only on what the program
//   does, and inside the dumps where callgrind sees them), no memory reducer
//   (GCs on a timer).
// --max/min-semi-space-size: a fixed young generation, so the scavenge schedule
//   does not depend on V8's growing heuristics.
// --initial-old-space-size=512: no full GC (mark-compact) in the whole run. A
//   scavenge is all inside Heap::CollectGarbage, where it is subtracted; a full
//   GC is not: its incremental marking runs partly inside the requests' own code
//   (the RecordWrite builtin's marking path, allocation steps), which no function
//   boundary separates, and it throws away optimised code whose embedded maps died
//   ("weak objects" deopts), which then runs unoptimised for a while. Both made
//   one window up to 10 % dearer than the next. bench/cost.js checks that no full
//   GC started inside a window.
const NODE_FLAGS = ['--predictable', '--max-semi-space-size=16', '--min-semi-space-size=16', '--initial-old-space-size=512']

// --instr-atstart=no: start-up and warm-up run uninstrumented (about ten times
//   faster); bench/lib/cost-child.js switches instrumentation on before the windows.
// --dump-before=uv_os_getpriority: each os.getPriority() call (the window marks)
//   starts a new dump.
const CALLGRIND_FLAGS = ['--tool=callgrind', '-q', '--instr-atstart=no', '--dump-before=uv_os_getpriority']

/**
 * Runs `name` once; `out` is the callgrind file name (dumps are `out.1`, `out.2`,
 * ... and `out` at exit); `layout` shifts the heap layout (bench/lib/cost-child.js). Resolves { report, windows: [file, file], files, seconds }.
 */
function runChild (name, { out, counts, layout = 0, callgrindFlags = ['--dump-instr=no'], nodeFlags = [] }) {
  const args = ['-R', 'valgrind', ...CALLGRIND_FLAGS, ...callgrindFlags, `--callgrind-out-file=${out}`,
    process.execPath, ...NODE_FLAGS, ...nodeFlags, path.join(__dirname, 'cost-child.js'), name]
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    BENCH_COST_CALLGRIND: '1',
    BENCH_COST_LAYOUT: String(layout),
    BENCH_COST_CLIENTS: String(counts.clients),
    BENCH_COST_WARMUP: String(counts.warmup),
    BENCH_COST_N1: String(counts.n1),
    BENCH_COST_N2: String(counts.n2),
    BENCH_COST_VISIT_EVERY: String(counts.visitEvery)
  }
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn('setarch', args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`[${name}] exited with ${code}\n${stderr.slice(-3000)}`))
      const report = JSON.parse(stdout.trim().split('\n').pop())
      // Dump 1 runs from the moment instrumentation went on to the first mark;
      // dumps 2 and 3 are the windows; the file without a number is the exit.
      resolve({
        report,
        windows: [`${out}.2`, `${out}.3`],
        files: [out, `${out}.1`, `${out}.2`, `${out}.3`],
        seconds: (Date.now() - started) / 1000
      })
    })
  })
}

module.exports = { runChild, settings, forRow, envInt, NODE_FLAGS, CALLGRIND_FLAGS }
