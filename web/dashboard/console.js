// A VM's console in xterm.js: output from a streamed console GET (fetch + ReadableStream),
// keystrokes POSTed to /v1/vms/{id}/console. xterm.js comes from npm (web/node_modules,
// served at /ui/vendor/xterm/); without it the rest of the dashboard still works.
import { authHeaders } from './api.js';

let loading = null;
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`cannot load ${src}: run "npm ci" in web/`));
    document.head.append(s);
  });
}
function loadXterm() {
  loading ??= loadScript('vendor/xterm/xterm/lib/xterm.js').then(() => loadScript('vendor/xterm/addon-fit/lib/addon-fit.js'));
  return loading;
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

async function errorText(res) {
  const text = await res.text();
  try { return JSON.parse(text).error || text; } catch { return text || `HTTP ${res.status}`; }
}

export class ConsoleView {
  constructor(dialog) {
    this.dialog = dialog;
    this.title = dialog.querySelector('#console-title');
    this.state = dialog.querySelector('#console-state');
    this.box = dialog.querySelector('#terminal');
    dialog.querySelector('#console-close').addEventListener('click', () => this.close());
    dialog.addEventListener('close', () => this.stop());
    // Escape belongs to the guest (vi, less...): only the Close button closes the console.
    dialog.addEventListener('cancel', (ev) => ev.preventDefault());
    window.addEventListener('resize', () => this.fit?.fit());
  }

  setState(text, kind = '') {
    this.state.textContent = text;
    this.state.className = `console-state ${kind}`;
  }

  async open(vm) {
    this.stop();
    this.vm = vm;
    this.title.textContent = `Console · ${vm.name}`;
    this.dialog.dataset.vm = vm.name;
    if (!this.dialog.open) {
      if (this.dialog.showModal) this.dialog.showModal();
      else this.dialog.setAttribute('open', '');
    }
    this.setState('connecting…');
    try {
      await loadXterm();
    } catch (e) {
      this.box.replaceChildren(document.createTextNode(e.message));
      this.setState('xterm.js missing', 'bad');
      return;
    }
    this.box.replaceChildren();
    this.term = new window.Terminal({
      convertEol: false,
      cursorBlink: true,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
      fontSize: 14,
      theme: { background: '#0f172a', foreground: '#e2e8f0', cursor: '#38bdf8' },
      scrollback: 5000,
    });
    this.fit = new window.FitAddon.FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(this.box);
    this.fit.fit();
    this.term.focus();
    this.abort = new AbortController();
    this.queue = [];
    this.sending = false;
    this.term.onData((data) => this.input(data));
    this.output(this.abort.signal);
  }

  // base: '/v1' for the REST API's console, '/v1/dashboard' for the dashboard's streaming relay.
  url(extra = '', base = '/v1') {
    const params = new URLSearchParams(extra);
    if (this.vm.tenant) params.set('tenant', this.vm.tenant);
    const q = params.toString();
    return `${base}/vms/${encodeURIComponent(this.vm.id || this.vm.name)}/console${q ? '?' + q : ''}`;
  }

  // Keystrokes go out in order, batched while a POST is in flight.
  async input(data) {
    this.queue.push(data);
    if (this.sending) return;
    this.sending = true;
    const signal = this.abort.signal;
    while (this.queue.length && !signal.aborted) {
      const body = this.queue.join('');
      this.queue = [];
      try {
        const res = await fetch(this.url(), {
          method: 'POST', headers: authHeaders({ 'Content-Type': 'application/octet-stream' }), body, signal,
        });
        if (!res.ok) this.setState(`input refused: ${await errorText(res)}`, 'bad');
      } catch (e) {
        if (!signal.aborted) this.setState(`input failed: ${e.message}`, 'bad');
      }
    }
    this.sending = false;
  }

  // Output: the streamed GET of /v1/dashboard/vms/{id}/console (the controller relays the agent's
  // following stream as it comes, uncompressed; the REST API's console GET reaches a browser
  // gzipped, i.e. only when the stream ends). The agent replays the log from its start on every GET, so `shown` counts the bytes
  // already written and a reconnect skips them; a stream that ends (idle timeout, VM stopped)
  // is reopened. Without the relay (404: an older controller) the page polls the REST API's
  // ?follow=0 every second instead.
  async output(signal) {
    let shown = 0;
    let polling = false;
    const write = (bytes, from) => {
      // bytes hold the log from offset `from`; write what is new.
      if (from + bytes.length <= shown) return;
      const chunk = bytes.subarray(Math.max(0, shown - from));
      this.term.write(chunk);
      shown += chunk.length;
    };
    while (!signal.aborted) {
      if (!polling) {
        const attempt = new AbortController();
        const stopAttempt = () => attempt.abort();
        signal.addEventListener('abort', stopAttempt, { once: true });
        try {
          const res = await fetch(this.url('', '/v1/dashboard'), { headers: authHeaders(), signal: attempt.signal, cache: 'no-store' });
          if (res.status === 404 && !(res.headers.get('content-type') || '').includes('json')) {
            polling = true;
            continue;
          }
          if (!res.ok) {
            const text = await errorText(res);
            if (res.status === 404 && /no route/.test(text)) { polling = true; continue; }
            this.setState(text, 'bad');
            await sleep(3000, signal);
            continue;
          }
          this.setState('live', 'ok');
          const reader = res.body.getReader();
          let pos = 0;
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            write(value, pos);
            pos += value.length;
          }
          this.setState('reconnecting…');
          await sleep(1000, signal);
        } catch (e) {
          if (signal.aborted) break;
          if (!polling) {
            this.setState(`disconnected: ${e.message}`, 'bad');
            await sleep(2000, signal);
          }
        } finally {
          signal.removeEventListener('abort', stopAttempt);
        }
        continue;
      }
      try {
        const res = await fetch(this.url('follow=0'), { headers: authHeaders(), signal, cache: 'no-store' });
        if (res.ok) {
          const bytes = new Uint8Array(await res.arrayBuffer());
          if (bytes.length < shown) {  // a new log (the VM restarted): start over
            this.term.reset();
            shown = 0;
          }
          write(bytes, 0);
          this.setState('live (polling)', 'ok');
        } else {
          this.setState(await errorText(res), 'bad');
        }
      } catch (e) {
        if (signal.aborted) break;
        this.setState(`disconnected: ${e.message}`, 'bad');
      }
      await sleep(1000, signal);
    }
  }

  stop() {
    this.abort?.abort();
    this.abort = null;
    this.term?.dispose();
    this.term = null;
    this.fit = null;
  }

  close() {
    this.stop();
    if (this.dialog.open) this.dialog.close();
    delete this.dialog.dataset.vm;
  }
}
