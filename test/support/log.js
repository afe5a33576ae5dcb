'use strict'

// Captures what a Fastify (pino) logger writes, as parsed JSON entries.
function createLogCapture () {
  const entries = []
  const stream = {
    write (line) {
      for (const part of String(line).split('\n')) {
        if (!part.trim()) continue
        try {
          entries.push(JSON.parse(part))
        } catch {
          entries.push({ raw: part })
        }
      }
    }
  }
  return {
    stream,
    entries,
    /** Entries at pino level `level` (50 = error) or above, written after index `from`. */
    atLeast (level, from = 0) {
      return entries.slice(from).filter((e) => typeof e.level === 'number' && e.level >= level)
    },
    mark: () => entries.length
  }
}

module.exports = { createLogCapture }
