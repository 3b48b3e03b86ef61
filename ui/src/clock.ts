// The server's "now", as the browser can best tell: the browser's clock corrected by how far it is from
// the server's (read from each answer's Date header). Relative times ("5 s ago") and running durations
// compare the server's timestamps with this, so a browser whose clock is off does not show past events
// as future ones.

// The Date header has whole seconds: a difference smaller than this is noise, not a wrong clock.
const NOISE_MS = 2000;
let offsetMs = 0;

export function noteServerDate(header: string | null): void {
  if (!header) return;
  const server = Date.parse(header);
  if (Number.isNaN(server)) return;
  // The header is the start of the server's second: it is at most 1 s behind the server's clock.
  const offset = server + 500 - Date.now();
  offsetMs = Math.abs(offset) > NOISE_MS ? offset : 0;
}

export function serverNow(): number {
  return Date.now() + offsetMs;
}
