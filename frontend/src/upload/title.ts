// The queue's progress in the tab title ("42 % · 2 uploads · omicsdm"), so it shows in the tab strip while
// the user is elsewhere; the title is given back unchanged once nothing is running.
import type { Overall } from "./manager";

const PREFIX = /^\d{1,3} % · \d+ uploads? · /;

export function showProgressInTitle(o: Overall): void {
  const base = document.title.replace(PREFIX, "");
  if (o.running === 0 || o.size === 0) {
    if (base !== document.title) document.title = base;
    return;
  }
  const pct = Math.floor((100 * o.loaded) / o.size);
  const title = `${pct} % · ${o.running} upload${o.running === 1 ? "" : "s"} · ${base}`;
  if (title !== document.title) document.title = title;
}
