'use strict'

// node bench/profile-summary.js <file.cpuprofile> [top=25] [filter]
//
// Sums self time per function (name + file:line) over a V8 .cpuprofile and prints
// the top entries, then the same restricted to fastify-login's own dist/ code and
// a per-package breakdown. `filter` keeps only frames whose URL contains it.

const fs = require('node:fs')
const path = require('node:path')

const file = process.argv[2]
const TOP = Number(process.argv[3]) || 25
const FILTER = process.argv[4] || null
if (!file) {
  console.error('usage: node bench/profile-summary.js <file.cpuprofile> [top] [filter]')
  process.exit(2)
}

const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))

// timeDeltas[i] is the time before samples[i]; attribute it to that sample.
const selfTime = new Map()
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] || 0
  selfTime.set(profile.samples[i], (selfTime.get(profile.samples[i]) || 0) + dt)
  total += dt
}

const root = path.resolve(__dirname, '..')

function where (cf) {
  let url = cf.url || ''
  if (url.startsWith('file://')) url = url.slice(7)
  if (url.startsWith(root)) url = path.relative(root, url)
  return url
}

function pkgOf (url) {
  if (!url) return '(native/vm)'
  if (url.startsWith('dist/')) return 'fastify-login (dist/)'
  if (url.startsWith('node:')) return 'node core'
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  if (m) return m[1]
  if (url.startsWith('bench/')) return 'bench app'
  return url
}

const byFn = new Map()
const byPkg = new Map()
for (const [id, t] of selfTime) {
  const cf = nodes.get(id).callFrame
  const url = where(cf)
  if (FILTER && !url.includes(FILTER)) continue
  const key = `${cf.functionName || '(anonymous)'}  ${url ? `${url}:${cf.lineNumber + 1}` : ''}`
  byFn.set(key, (byFn.get(key) || 0) + t)
  const pkg = pkgOf(url)
  byPkg.set(pkg, (byPkg.get(pkg) || 0) + t)
}

function print (title, map, limit) {
  console.log(title)
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)
  for (const [key, t] of rows) {
    console.log(`${(t / 1000).toFixed(1).padStart(9)} ms ${((t / total) * 100).toFixed(2).padStart(6)} %  ${key}`)
  }
  console.log('')
}

console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${profile.samples.length} samples\n`)
print(`top ${TOP} functions by self time`, byFn, TOP)
print('self time by package', byPkg, 20)
// Inclusive time of the plugin's functions: a sample counts once for every distinct
// dist/ function on its stack (so the hooks show what they cost with their callees).
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id)
const inclusive = new Map()
for (const [id, t] of selfTime) {
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = nodes.get(cur).callFrame
    const url = where(cf)
    if (!url.startsWith('dist/')) continue
    const key = `${cf.functionName || '(anonymous)'}  ${url}:${cf.lineNumber + 1}`
    if (seen.has(key)) continue
    seen.add(key)
    inclusive.set(key, (inclusive.get(key) || 0) + t)
  }
}

const own = new Map([...byFn].filter(([k]) => k.includes(' dist/')))
const ownTotal = [...own.values()].reduce((a, b) => a + b, 0)
print(`fastify-login's own code (dist/): ${((ownTotal / total) * 100).toFixed(2)} % of samples`, own, TOP)
print('fastify-login functions by inclusive time (self + callees)', inclusive, TOP)
