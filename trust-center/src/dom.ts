/**
 * Small DOM helpers: every element is built with createElement and text nodes, never from HTML strings, so nothing
 * the host or a dropped file sends can become markup (the CSP forbids inline script as well).
 */

type Child = Node | string | null | undefined | false

/** An element with attributes and children; `false`, null and undefined children are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v)
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
  return el
}

/** Where a code's entry is: docs/errors.md rendered by the page's build (trust-center/dist/errors.html), one anchor per code. */
export function errorLink(code: string): HTMLAnchorElement {
  return h('a', { href: `/trust-center/errors.html#${encodeURIComponent(code)}`, class: 'code' }, code)
}

/** A table with a caption, header cells and rows of cells. */
export function table(caption: string, head: readonly string[], rows: readonly Child[][]): HTMLTableElement {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  )
}

/** A definition list of label and value pairs (values left out when null or undefined). */
export function facts(pairs: ReadonlyArray<[string, Child]>): HTMLDListElement {
  const dl = h('dl', { class: 'facts' })
  for (const [k, v] of pairs) if (v !== null && v !== undefined && v !== false) dl.append(h('dt', {}, k), h('dd', {}, v))
  return dl
}

/** Monospace text that may break anywhere (digests, measurements). */
export function mono(text: string): HTMLElement {
  return h('code', { class: 'hex' }, text)
}

/** Replaces the content of `el`. */
export function show(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false))
}

/** The element with this id; the page's own markup has it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`the page has no #${id}`)
  return el as T
}

/** Lets a text area take a dropped file's text, as well as pasted text. */
export function acceptDrop(area: HTMLTextAreaElement): void {
  area.addEventListener('dragover', (e) => e.preventDefault())
  area.addEventListener('drop', (e) => {
    e.preventDefault()
    const file = e.dataTransfer?.files[0]
    if (file !== undefined) void file.text().then((text) => (area.value = text))
  })
}
