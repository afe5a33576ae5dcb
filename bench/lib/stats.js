'use strict'

// Small helpers every runner shares: medians and spreads, number formats, plain
// text tables, the targets, and bench/results.json, where each runner writes its
// own section and keeps the others'.

const fs = require('node:fs')
const path = require('node:path')

const RESULTS_FILE = process.env.BENCH_RESULTS || path.join(__dirname, '..', 'results.json')

function median (values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** (max - min) / median: how far the repeats of one figure lie apart. */
function spread (values) {
  return (Math.max(...values) - Math.min(...values)) / median(values)
}

function round (n, digits) {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

function fmt (n) {
  return Math.round(n).toLocaleString('en-US')
}

function pct (x, digits = 2) {
  return (x * 100).toFixed(digits) + ' %'
}

/** Prints rows of cells as aligned columns; `right` holds the indexes of right-aligned columns. */
function table (head, rows, right = new Set()) {
  const lines = [head, ...rows]
  const widths = head.map((_, i) => Math.max(...lines.map((l) => String(l[i] ?? '').length)))
  for (const l of lines) {
    console.log(l.map((v, i) => right.has(i) ? String(v ?? '').padStart(widths[i]) : String(v ?? '').padEnd(widths[i])).join('  ').trimEnd())
  }
}

/**
 * Judges targets (bench/configs.js) against `figures`: name -> { ratio, cost }.
 * ratio: the row's ratio >= min; cheaper: the row's cost < the other row's. Rows
 * missing or skipped are left out.
 */
function judge (targets, figures) {
  const out = []
  for (const t of targets) {
    const a = figures[t.row]
    if (!a || a.skipped) continue
    if (t.kind === 'ratio') {
      if (a.ratio == null) continue
      out.push({ name: t.name, value: a.ratio, target: `>= ${t.min}`, pass: a.ratio >= t.min })
    } else {
      const b = figures[t.than]
      if (!b || b.skipped) continue
      out.push({ name: t.name, value: round(b.cost / a.cost, 4), target: '> 1 (cost ratio)', pass: a.cost < b.cost })
    }
  }
  return out
}

function printTargets (targets, prefix = '') {
  for (const t of targets) {
    console.log(`${prefix}${t.name.padEnd(18)} ${t.value.toFixed(4)}  target ${t.target.padEnd(17)} ${t.pass ? 'PASS' : 'MISS'}`)
  }
}

/** Writes `section` of bench/results.json, keeping the other sections. */
function writeSection (name, value) {
  let results = {}
  if (fs.existsSync(RESULTS_FILE)) results = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8'))
  results[name] = value
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n')
  console.log(`${name} section written to ${path.relative(process.cwd(), RESULTS_FILE)}`)
}

/** A comma-separated list from the environment or a --flag value, or null. */
function list (value) {
  if (value === undefined || value === null || value === '') return null
  return String(value).split(',').map((s) => s.trim()).filter(Boolean)
}

/** `--name value` / `--name=value` from argv, else the environment variable, else `def`. */
function option (argv, name, env, def) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3)
  }
  const raw = process.env[env]
  return raw === undefined || raw === '' ? def : raw
}

/** Positive integers from a comma-separated option. */
function counts (value, what) {
  return list(value).map((s) => {
    const n = Number(s)
    if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be positive integers, got "${value}"`)
    return n
  })
}

module.exports = { RESULTS_FILE, median, spread, round, fmt, pct, table, judge, printTargets, writeSection, list, option, counts }
