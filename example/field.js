'use strict'

/** A form or query field as a string: repeated fields arrive as arrays, missing ones as undefined. */
function field (values, name) {
  const value = values?.[name]
  return typeof value === 'string' ? value : ''
}

module.exports = { field }
