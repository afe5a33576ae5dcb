'use strict'

// Reads a callgrind output file (one dump) into per-function costs:
//   { total, fns: Map<name, { self, object, calls: Map<callee, { count, inclusive }> }> }
// Only the first event (Ir) is read. Recursion levels (`fn'2`) are folded into the
// function. Works with and without --dump-instr=yes: the cost is always the last
// column(s) after the position columns, and only the first event is kept.
// With `addresses: true` (needs --dump-instr=yes), the self costs of code without a
// symbol (V8's generated code) are also kept per instruction address (byAddress),
// and so are its calls (jitCalls: { from, callee, count, inclusive }), for
// bench/profile.js to name them from V8's --perf-basic-prof map.

const fs = require('node:fs')

function baseName (name) {
  return name.replace(/'\d+$/, '')
}

function parse (file, { addresses = false } = {}) {
  const text = fs.readFileSync(file, 'utf8')
  const names = { fn: new Map(), ob: new Map(), fl: new Map() }
  const fns = new Map()
  const byAddress = addresses ? new Map() : null
  const jitCalls = addresses ? [] : null
  let positions = 1
  let total = null
  let fn = null
  let object = null
  let callObject = null
  let callee = null
  let callCount = 0
  let inCall = false
  let lastAddr = 0

  // "(12) name" defines id 12, "(12)" refers to it, "name" is plain.
  function lookup (kind, value) {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(value)
    if (!m) return value
    if (m[2] !== undefined) names[kind].set(m[1], m[2])
    return names[kind].get(m[1])
  }
  function entry (name) {
    let e = fns.get(name)
    if (e === undefined) {
      e = { self: 0, object: null, calls: new Map() }
      fns.set(name, e)
    }
    return e
  }

  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue
    const c = line.charCodeAt(0)
    // Cost lines start with a digit, '+', '-' or '*' (relative positions).
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      const parts = line.split(' ')
      const cost = Number(parts[positions] ?? 0)
      if (addresses) {
        // Absolute addresses are hex; relative ones (+n, -n) decimal; * is the same.
        const p = parts[0]
        if (p[0] === '+') lastAddr += Number(p.slice(1))
        else if (p[0] === '-') lastAddr -= Number(p.slice(1))
        else if (p !== '*') lastAddr = parseInt(p, 16)
      }
      if (inCall) {
        const e = entry(fn)
        let edge = e.calls.get(callee)
        if (edge === undefined) {
          edge = { count: 0, inclusive: 0 }
          e.calls.set(callee, edge)
        }
        edge.count += callCount
        edge.inclusive += cost
        if (addresses && isJit(fn)) jitCalls.push({ from: lastAddr, callee, count: callCount, inclusive: cost })
        inCall = false
      } else if (fn !== null) {
        entry(fn).self += cost
        if (addresses && isJit(fn)) byAddress.set(lastAddr, (byAddress.get(lastAddr) ?? 0) + cost)
      }
      continue
    }
    const eq = line.indexOf('=')
    const colon = line.indexOf(':')
    if (eq > 0 && (colon === -1 || eq < colon)) {
      const key = line.slice(0, eq)
      const value = line.slice(eq + 1)
      if (key === 'fn') {
        fn = baseName(lookup('fn', value))
        const e = entry(fn)
        if (e.object === null) e.object = object
      } else if (key === 'ob') object = lookup('ob', value)
      else if (key === 'cob') callObject = lookup('ob', value)
      else if (key === 'fl' || key === 'fi' || key === 'fe' || key === 'cfi' || key === 'cfl') lookup('fl', value)
      else if (key === 'cfn') {
        callee = baseName(lookup('fn', value))
        const e = entry(callee)
        if (e.object === null) e.object = callObject ?? object
        callObject = null
      } else if (key === 'calls') {
        callCount = Number(value.split(' ')[0])
        inCall = true
      }
      continue
    }
    if (line.startsWith('positions:')) positions = line.slice(10).trim().split(/\s+/).length
    else if (line.startsWith('summary:') || line.startsWith('totals:')) total = Number(line.split(/\s+/)[1])
  }
  if (total === null) {
    total = 0
    for (const e of fns.values()) total += e.self
  }
  return { total, fns, byAddress, jitCalls }
}

// Code without a symbol (V8's generated code): callgrind names it by address.
function isJit (name) {
  return /^0x[0-9a-f]+$/.test(name)
}

module.exports = { parse, baseName, isJit }
