// Where the app is served from. Every URL the UI uses (assets, REST, Socket.IO, its own pages) is
// relative to it, so the same build works at `/`, under a host app's prefix (`/ops/jobs/`) and behind a
// reverse proxy's sub-path, with nothing to configure.

// This module's own URL: <base>/assets/<chunk>.js once built, <base>/src/base.ts under `vite dev`; both
// sit one folder below the base. (Read through a variable: Vite rewrites `new URL("…", import.meta.url)`.)
const here: string = import.meta.url;

/** The app's base URL, ending with "/". */
export const BASE = new URL("../", here);

/** The base's path, e.g. "/" or "/ops/jobs/". */
export const BASE_PATH = BASE.pathname;

/** An absolute URL for a path of the server relative to the base ("admin/jobs"). */
export function serverUrl(path: string): string {
  return new URL(path, BASE).href;
}

/** The app's route for a location's path: "" for the Jobs page, "runs" for the Runs page. */
export function routeOf(pathname: string): string {
  return pathname.startsWith(BASE_PATH) ? pathname.slice(BASE_PATH.length) : pathname.replace(/^\//, "");
}

/** The path of one of the app's routes ("", "runs"), with an optional query. */
export function pathOf(route: string, query?: URLSearchParams): string {
  const search = query && [...query.keys()].length ? `?${query}` : "";
  return BASE_PATH + route + search;
}
