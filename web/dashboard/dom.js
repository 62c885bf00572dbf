// A tiny element builder: h('div', {class: 'x', title: 't'}, child, 'text', [more]).
// Text is always set as text (never parsed as HTML), so names from the API cannot inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export const fmtMem = (mib) => (mib >= 1024 ? `${+(mib / 1024).toFixed(mib % 1024 ? 1 : 0)} GiB` : `${mib} MiB`);
export const pct = (x) => `${Math.max(0, Math.min(100, x * 100)).toFixed(2)}%`;
