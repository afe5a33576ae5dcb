/** Longest return address accepted; anything longer falls back to the default. */
const MAX_REDIRECT_LENGTH = 2048

// C0 controls, DEL, C1 controls: browsers strip or misread them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
// Anything a browser could take as a path separator or as the start of another host.
const BAD_START = /^\/[/\\]/
// Lone UTF-16 surrogates cannot be percent-encoded into a Location header.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * True when `url` is a same-site path that is safe to redirect to: one leading `/`
 * not followed by `/` or `\`, no backslashes, no control characters, and still so
 * after percent-decoding and Unicode normalisation. Never throws.
 */
export function isSafeRedirect (url: unknown): url is string {
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_REDIRECT_LENGTH) return false
  let current = url
  // Decode until stable so double-encoded tricks (%252F) are seen too; bounded by the length cap.
  for (let round = 0; round < 4; round++) {
    if (!isSafePath(current)) return false
    let decoded: string
    try {
      decoded = decodeURIComponent(current)
    } catch {
      return false
    }
    if (decoded === current) return true
    current = decoded
  }
  return false
}

function isSafePath (path: string): boolean {
  if (path.charCodeAt(0) !== 47 /* / */) return false
  if (path.includes('\\') || CONTROL.test(path) || LONE_SURROGATE.test(path)) return false
  if (BAD_START.test(path) || resolvesToAnotherHost(path)) return false
  // Unicode look-alikes (fullwidth solidus, etc.) that normalise to / or \.
  const normal = path.normalize('NFKC')
  return normal === path ||
    !(normal.includes('\\') || BAD_START.test(normal) || CONTROL.test(normal) || resolvesToAnotherHost(normal))
}

/** A browser resolves `/.//evil.com` to the path `//evil.com`: one echo away from another host. */
function resolvesToAnotherHost (path: string): boolean {
  return path.includes('.') && BAD_START.test(removeDotSegments(pathPart(path)))
}

/**
 * True when `url` is an absolute http(s) URL on one of `origins` (the app's
 * `allowedRedirectOrigins`), with nothing a browser would read otherwise.
 */
export function isAllowedAbsolute (url: unknown, origins: ReadonlySet<string>): url is string {
  if (typeof url !== 'string' || url.length > MAX_REDIRECT_LENGTH || CONTROL.test(url) || url.includes('\\') || LONE_SURROGATE.test(url)) return false
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  // The URL must say what it means: no credentials, and written as the parser reads it.
  return (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.username === '' && parsed.password === '' &&
    origins.has(parsed.origin) && (url.toLowerCase() + '/').startsWith(parsed.origin + '/')
}

/** The path of a same-site URL: everything before its query or fragment. */
function pathPart (url: string): string {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/** RFC 3986 section 5.2.4: the path with its `.` and `..` segments resolved, as a browser does. */
export function removeDotSegments (path: string): string {
  const output: string[] = []
  const segments = path.split('/')
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!
    const last = i === segments.length - 1
    if (segment === '.' || segment === '..') {
      if (segment === '..' && output.length > 0) output.pop()
      if (last) output.push('')
    } else {
      output.push(segment)
    }
  }
  return '/' + output.join('/')
}

/** Percent-encodes what may not stand raw in a Location header, leaving existing escapes as they are. */
export function toLocation (url: string): string {
  return /[^\u0021-\u007e]/.test(url) ? url.replace(/[^\u0021-\u007e]+/g, encodeURI) : url
}

/** `base` with `param=value` added to its query, before any fragment. */
export function withQueryParam (base: string, param: string, value: string): string {
  const hash = base.indexOf('#')
  const path = hash === -1 ? base : base.slice(0, hash)
  const fragment = hash === -1 ? '' : base.slice(hash)
  const separator = path.includes('?') ? (path.endsWith('?') || path.endsWith('&') ? '' : '&') : '?'
  return `${path}${separator}${encodeURIComponent(param)}=${encodeURIComponent(value)}${fragment}`
}
