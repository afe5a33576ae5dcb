'use strict'

// Formatting and judging for bench/cost.js.

function median (values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function fmt (n) {
  return Math.round(n).toLocaleString('en-US')
}

function pct (x, digits = 2) {
  return (x * 100).toFixed(digits) + ' %'
}

// ratio: baseline cost / row cost >= min.   cheaper: row cost < other row cost.
function judge (targets, configs) {
  const out = []
  for (const t of targets) {
    const a = configs[t.row]
    if (!a || a.skipped) continue
    if (t.kind === 'ratio') {
      if (a.ratio == null) continue
      out.push({ name: t.name, value: a.ratio, target: `>= ${t.min}`, pass: a.ratio >= t.min })
    } else {
      const b = configs[t.than]
      if (!b || b.skipped) continue
      const value = Math.round(b.instructionsPerRequest / a.instructionsPerRequest * 10000) / 10000
      out.push({ name: t.name, value, target: '> 1 (cost ratio)', pass: a.instructionsPerRequest < b.instructionsPerRequest })
    }
  }
  return out
}

function printTable (rows, configs) {
  const head = ['config', 'instr/req', 'ratio', 'vs', 'spread', 'GC/req', 'JIT/req', 'what']
  const right = new Set([1, 2, 4, 5, 6])
  const lines = [head]
  for (const r of rows) {
    const c = configs[r.name]
    if (c.skipped) {
      lines.push([r.name, '-', '-', r.baseline ?? '', '-', '-', '-', c.skipped])
      continue
    }
    lines.push([
      r.name, fmt(c.instructionsPerRequest), c.ratio == null ? '' : c.ratio.toFixed(4), r.baseline ?? '',
      pct(c.spread, 3), fmt(c.gcPerRequest), fmt(c.jitPerRequest), r.about
    ])
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)))
  for (const l of lines) {
    console.log(l.map((v, i) => right.has(i) ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i])).join('  ').trimEnd())
  }
}

module.exports = { median, fmt, pct, judge, printTable }
