// How instants are shown: always with their date and zone ("2026-03-15 04:30:00 JST"), in the zone the
// viewer picked (their own, UTC, or each job's), remembered per browser. Zone abbreviations come from
// the tz database (zone-names.ts), since browsers only know a few ("GMT+9" for Tokyo in en-US).
import { useEffect, useState } from "preact/hooks";
import { serverNow } from "./clock";
import { PATTERNS, ZONES } from "./zone-names";

export type ZoneMode = "local" | "utc" | "job";

const MODE_KEY = "nomaflow.zone";
export const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

function storedMode(): ZoneMode {
  const stored = localStorage.getItem(MODE_KEY);
  return stored === "utc" || stored === "job" ? stored : "local";
}

let mode: ZoneMode = storedMode();
const modeListeners = new Set<(mode: ZoneMode) => void>();

export function zoneMode(): ZoneMode {
  return mode;
}

export function setZoneMode(next: ZoneMode): void {
  mode = next;
  localStorage.setItem(MODE_KEY, next);
  modeListeners.forEach((listener) => listener(next));
}

/** The zone mode, re-rendering the caller when it changes. */
export function useZoneMode(): ZoneMode {
  const [current, setCurrent] = useState(mode);
  useEffect(() => {
    modeListeners.add(setCurrent);
    return () => void modeListeners.delete(setCurrent);
  }, []);
  return current;
}

// Each job's zone, as the jobs list last said (for the "job's zone" mode).
const jobZones = new Map<string, string>();

export function noteJobZones(jobs: { name: string; timezone: string }[]): void {
  for (const job of jobs) jobZones.set(job.name, job.timezone);
}

/** The zone to show a time of `job` in (a time that belongs to no job is shown in the viewer's zone). */
export function zoneFor(current: ZoneMode, job?: string | null): string {
  if (current === "utc") return "UTC";
  if (current === "job" && job) return jobZones.get(job) ?? LOCAL_ZONE;
  return LOCAL_ZONE;
}

// --- formatting ---

const parts = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, Intl.DateTimeFormat>();

function partsIn(zone: string): Intl.DateTimeFormat {
  let format = parts.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    parts.set(zone, format);
  }
  return format;
}

/** The zone's offset from UTC at `date`, in minutes. */
export function offsetMinutes(zone: string, date: Date): number {
  let format = offsets.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" });
    offsets.set(zone, format);
  }
  const name = format.formatToParts(date).find((part) => part.type === "timeZoneName")?.value ?? "GMT";
  const match = /([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3] ?? 0);
  return match[1] === "-" ? -minutes : minutes;
}

function signed(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  const hours = String(Math.floor(abs / 60)).padStart(2, "0");
  return `UTC${sign}${hours}:${String(abs % 60).padStart(2, "0")}`;
}

/** The zone's abbreviation at `date` as the tz database writes it (JST, CEST, PDT), else "UTC+05:45". */
export function zoneAbbreviation(zone: string, date: Date): string {
  return abbreviationOf(zone, offsetMinutes(zone, date));
}

function abbreviationOf(zone: string, minutes: number): string {
  if (zone === "UTC" || zone === "Etc/UTC") return "UTC";
  const pattern = ZONES[zone];
  if (pattern !== undefined) {
    for (const entry of PATTERNS[pattern].split(" ")) {
      const [offset, name] = entry.split("=");
      if (Number(offset) === minutes) return name;
    }
  }
  return signed(minutes);
}

// A zone's offset only changes on a quarter hour: one lookup per zone and quarter hour is enough, and
// formatting a log line then costs arithmetic, not an Intl call (the log viewer formats every row in
// sight at every scroll).
const QUARTER_HOUR = 900_000;
const offsetCache = new Map<string, number>();
const abbreviationCache = new Map<string, string>();

function cachedOffset(zone: string, ms: number): number {
  const key = `${zone}|${Math.floor(ms / QUARTER_HOUR)}`;
  let minutes = offsetCache.get(key);
  if (minutes === undefined) {
    if (offsetCache.size > 10_000) offsetCache.clear();
    minutes = offsetMinutes(zone, new Date(ms));
    offsetCache.set(key, minutes);
  }
  return minutes;
}

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** "2026-03-15 04:30:00 JST" (with milliseconds: "04:30:00.123"); "—" for no time. */
export function formatAt(iso: string | null | undefined, zone: string, ms = false): string {
  if (!iso) return "—";
  const instant = Date.parse(iso);
  if (Number.isNaN(instant)) return iso;
  const minutes = cachedOffset(zone, instant);
  const wall = new Date(instant + minutes * 60_000); // read with the UTC getters: the zone's wall time
  const key = `${zone}|${minutes}`;
  let name = abbreviationCache.get(key);
  if (name === undefined) abbreviationCache.set(key, (name = abbreviationOf(zone, minutes)));
  const fraction = ms ? `.${String(wall.getUTCMilliseconds()).padStart(3, "0")}` : "";
  return (
    `${wall.getUTCFullYear()}-${two(wall.getUTCMonth() + 1)}-${two(wall.getUTCDate())} ` +
    `${two(wall.getUTCHours())}:${two(wall.getUTCMinutes())}:${two(wall.getUTCSeconds())}${fraction} ${name}`
  );
}

/** The same instant in every zone the viewer may care about, for a tooltip. */
export function instantTitle(iso: string | null | undefined, jobZone?: string): string {
  if (!iso) return "";
  const zones = [LOCAL_ZONE, "UTC", ...(jobZone ? [jobZone] : [])];
  const seen = new Set<string>();
  const lines = [];
  for (const zone of zones) {
    if (seen.has(zone)) continue;
    seen.add(zone);
    const label = zone === LOCAL_ZONE ? `Your time (${zone})` : zone === "UTC" ? "UTC" : `Job's zone (${zone})`;
    lines.push(`${label}: ${formatAt(iso, zone)}`);
  }
  return lines.join("\n");
}

/** A wall time typed in `zone` ("2026-03-15T04:30" from a datetime-local input) as an ISO UTC time. */
export function wallTimeToIso(wall: string, zone: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(wall);
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s || 0);
  // The zone's offset at the guess, then at the corrected time (right across a DST change).
  let guess = asUtc - offsetMinutes(zone, new Date(asUtc)) * 60_000;
  guess = asUtc - offsetMinutes(zone, new Date(guess)) * 60_000;
  return new Date(guess).toISOString().replace(".000Z", "Z");
}

/** An ISO time as the wall time of `zone`, for a datetime-local input. */
export function isoToWallTime(iso: string, zone: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const got: Record<string, string> = {};
  for (const part of partsIn(zone).formatToParts(date)) got[part.type] = part.value;
  return `${got.year}-${got.month}-${got.day}T${got.hour}:${got.minute}`;
}

// --- relative times and durations ---

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "5 minutes ago", "in 3 hours". A `past` event (a start, an end) never reads as future: a server
 * time slightly ahead of the viewer's estimate of it is "just now". */
export function ago(iso: string | null | undefined, now: number, past = true): string {
  if (!iso) return "";
  let seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (past && seconds > -5) return "just now";
  if (!past && seconds < 0) seconds = 0;
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, "second");
  if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(Math.round(ms), 0)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** From `start` to `end`, or to now while it goes on. */
export function duration(start: string | null, end: string | null, now = serverNow()): string {
  if (!start) return "—";
  return formatDuration((end ? Date.parse(end) : now) - Date.parse(start));
}
