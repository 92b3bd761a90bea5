/** Text made safe inside HTML elements and quoted attributes (the servers' pages build HTML by hand). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
