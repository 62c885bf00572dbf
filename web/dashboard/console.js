// A VM's console in xterm.js: output from the streamed GET /v1/vms/{id}/console (fetch +
// ReadableStream), keystrokes POSTed to the same path. xterm.js comes from npm (web/node_modules,
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

  url(extra = '') {
    const q = this.vm.tenant ? `?tenant=${encodeURIComponent(this.vm.tenant)}${extra ? '&' + extra : ''}` : extra ? `?${extra}` : '';
    return `/v1/vms/${encodeURIComponent(this.vm.id || this.vm.name)}/console${q}`;
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

  // The agent replays the console log from its start on every GET, so `shown` counts the bytes
  // already written and a reconnect skips them. When the stream ends (VM stopped) or the
  // response does not start within 3 s (a proxy that buffers), fall back to polling ?follow=0.
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
        const slow = setTimeout(() => { polling = true; attempt.abort(); }, 3000);
        try {
          const res = await fetch(this.url(), { headers: authHeaders(), signal: attempt.signal, cache: 'no-store' });
          clearTimeout(slow);
          if (!res.ok) {
            this.setState(await errorText(res), 'bad');
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
          polling = true;  // ended: the VM stopped, or the reply was the whole log at once
        } catch (e) {
          clearTimeout(slow);
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
