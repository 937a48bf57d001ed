// qa chat page. Plain ES2020, no dependencies.
// Security rule: every string that comes from the API (questions, passages,
// titles, document text) is inserted with textContent, never innerHTML.
'use strict';

const STORAGE_KEY = 'qa.conversation_id';
const NETWORK_ERROR = 'Cannot reach the server — is `qa serve` running?';

const $ = (sel) => document.querySelector(sel);
const form = $('#ask-form');
const input = $('#question');
const sendBtn = $('#send');
const messages = $('#messages');
const emptyHint = $('#empty-hint');
const indexStatus = $('#index-status');
const docView = $('#document-view');
const docBackdrop = $('#document-backdrop');
const docTitle = $('#document-title');
const docMeta = $('#document-meta');
const docText = $('#document-text');
const appRoot = $('#app');

let conversationId = loadId();
// Bumped by "New conversation" so that a late answer to the old one is dropped.
let generation = 0;
let docOpener = null;   // element to give focus back to when the dialog closes
let docRequest = 0;     // guards against out-of-order document loads
const docCache = new Map();

// ---- small helpers -------------------------------------------------------

// localStorage can throw (disabled storage, private mode): degrade to memory only.
function loadId() {
  try { return localStorage.getItem(STORAGE_KEY); } catch { return null; }
}
function saveId(id) {
  conversationId = id || null;
  try {
    if (id) localStorage.setItem(STORAGE_KEY, id); else localStorage.removeItem(STORAGE_KEY);
  } catch { /* ignore */ }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

// API offsets are Unicode code points (Python str indices) but JS strings are
// UTF-16, so slice on an array of code points to stay correct for emoji etc.
function codePoints(text) { return Array.from(text || ''); }
function cpSlice(cps, start, end) {
  const clamp = (n) => Math.max(0, Math.min(cps.length, Number.isFinite(n) ? n : 0));
  return cps.slice(clamp(start), clamp(end)).join('');
}

// Only http(s) sources become links; anything else (e.g. "javascript:") stays text.
function sourceNode(source, className) {
  let url = null;
  try { url = new URL(source); } catch { /* not a URL: plain text */ }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:')) {
    const a = el('a', className, source);
    a.href = url.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }
  return el('span', className, source || '');
}

class ApiError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

// fetch wrapper: always resolves to parsed JSON (or null for 204) or throws ApiError.
async function api(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try { res = await fetch(path, opts); } catch {
    throw new ApiError('network', NETWORK_ERROR, 0);
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* non-JSON body, e.g. a proxy error page */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(err.code || `http_${res.status}`,
      err.message || `The server answered with an error (HTTP ${res.status}).`, res.status);
  }
  return data;
}

// ---- chat rendering ------------------------------------------------------

function updateEmptyHint() { emptyHint.hidden = messages.childElementCount > 0; }

function append(node) {
  messages.append(node);
  updateEmptyHint();
  return node;
}

function renderUser(question) {
  const bubble = el('div', 'turn turn-user');
  bubble.append(el('span', 'sr-only', 'You asked: '), el('p', 'turn-text', question));
  return append(bubble);
}

// Passage text with the highlight sentence wrapped in <mark class="highlight">.
function passageText(p) {
  const box = el('blockquote', 'passage-text');
  const cps = codePoints(p.text);
  const base = (p.citation && p.citation.start) || 0;
  const h = p.highlight;
  if (!h || h.end <= h.start) { box.textContent = p.text || ''; return box; }
  const hs = h.start - base, he = h.end - base;
  box.append(cpSlice(cps, 0, hs), el('mark', 'highlight', cpSlice(cps, hs, he)),
    cpSlice(cps, he, cps.length));
  return box;
}

function renderPassage(p) {
  const c = p.citation || {};
  const item = el('li', 'passage');
  const head = el('div', 'passage-head');
  head.append(el('span', 'passage-rank', `#${p.rank}`),
    el('h3', 'passage-title', c.title || c.document_id || 'Untitled'));
  const score = el('span', 'passage-score',
    typeof p.score === 'number' ? p.score.toFixed(3) : '—');
  score.title = 'Relevance score';
  head.append(score);

  const foot = el('div', 'passage-foot');
  foot.append(sourceNode(c.source, 'passage-source'));
  const label = `Open document · passage ${c.passage ?? '?'}`;
  const cite = el('button', 'cite', label);
  cite.type = 'button';
  // Accessible name starts with the visible label, then says which document.
  cite.setAttribute('aria-label', `${label} — ${c.title || c.document_id}`);
  cite.addEventListener('click', () => openDocument(p, cite));
  foot.append(cite);

  item.append(head, passageText(p), foot);
  return item;
}

function renderAnswer(turn, tookMs) {
  const bubble = el('div', 'turn turn-answer');
  bubble.append(el('span', 'sr-only', 'Answer: '));
  const passages = Array.isArray(turn.passages) ? turn.passages : [];

  const meta = el('div', 'answer-meta');
  const conf = el('span', 'confidence', turn.confident
    ? 'Confident' : 'Not confident — the documents may not answer this');
  conf.dataset.confident = String(Boolean(turn.confident));
  meta.append(conf);
  let info = `${passages.length} passage${passages.length === 1 ? '' : 's'}`;
  if (typeof tookMs === 'number') info += ` · ${Math.round(tookMs)} ms`;
  meta.append(el('span', 'answer-info', info));
  bubble.append(meta);

  if (passages.length === 0) {
    bubble.append(el('p', 'no-passages', 'No matching passages were found.'));
  } else {
    const list = el('ol', 'passages');
    passages.forEach((p) => list.append(renderPassage(p)));
    bubble.append(list);
  }
  return append(bubble);
}

function renderError(err) {
  const box = el('div', 'turn error');
  box.setAttribute('role', 'alert');
  if (err.code === 'index_not_built') {
    // The API message says how to build the index; keep it verbatim.
    box.append(el('p', 'error-title', 'The index is empty.'), el('p', 'error-detail', err.message));
  } else {
    box.append(el('p', 'error-title', err.message || 'Something went wrong.'));
  }
  return append(box);
}

function renderLoading() {
  const box = el('div', 'turn loading');
  box.setAttribute('aria-busy', 'true');
  box.append(el('span', 'spinner'), el('span', 'loading-text', 'Searching…'));
  return append(box);
}

const reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
function reveal(node) { node.scrollIntoView({ block: 'start', behavior: reduceMotion ? 'auto' : 'smooth' }); }

// ---- asking --------------------------------------------------------------

async function ask(question) {
  const gen = generation;
  renderUser(question);
  const loading = renderLoading();
  reveal(loading);
  sendBtn.disabled = true;
  const body = { question };
  if (conversationId) body.conversation_id = conversationId;
  try {
    const data = await api('POST', '/api/ask', body);
    if (gen !== generation) return;  // user started a new conversation meanwhile
    if (data.conversation_id) saveId(data.conversation_id);
    loading.remove();
    reveal(renderAnswer(data, data.took_ms));
  } catch (err) {
    if (gen !== generation) return;
    loading.remove();
    reveal(renderError(err));
    if (!input.value.trim()) input.value = question;  // let the user retry easily
  } finally {
    if (gen === generation) sendBtn.disabled = false;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question || sendBtn.disabled) { input.focus(); return; }
  input.value = '';
  ask(question);
});

// Enter sends, Shift+Enter inserts a newline; don't send mid IME composition.
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit ? form.requestSubmit() : sendBtn.click();
  }
});

$('#new-conversation').addEventListener('click', () => {
  const old = conversationId;
  generation += 1;
  saveId(null);
  if (old) api('DELETE', `/api/conversations/${encodeURIComponent(old)}`).catch(() => {});
  messages.replaceChildren();
  updateEmptyHint();
  sendBtn.disabled = false;
  input.focus();
});

// ---- document dialog -----------------------------------------------------

// Full text with [citation.start, citation.end) in <mark id="cited-passage">
// and the highlight sentence inside it in a stronger <mark class="cited-sentence">.
function renderDocumentText(text, citation, highlight) {
  const cps = codePoints(text);
  const cs = citation.start, ce = citation.end;
  const hs = highlight ? Math.max(cs, highlight.start) : ce;
  const he = highlight ? Math.min(ce, highlight.end) : ce;
  const cited = el('mark', 'cited');
  cited.id = 'cited-passage';
  cited.append(cpSlice(cps, cs, hs));
  if (he > hs) cited.append(el('mark', 'cited-sentence', cpSlice(cps, hs, he)));
  cited.append(cpSlice(cps, Math.max(hs, he), ce));
  docText.replaceChildren(cpSlice(cps, 0, cs), cited, cpSlice(cps, ce, cps.length));
  return cited;
}

function fetchDocument(id) {
  if (!docCache.has(id)) {
    const p = api('GET', `/api/documents/${encodeURIComponent(id)}`);
    p.catch(() => docCache.delete(id));  // don't cache failures
    docCache.set(id, p);
  }
  return docCache.get(id);
}

async function openDocument(passage, opener) {
  const c = passage.citation || {};
  const req = ++docRequest;
  docOpener = opener;
  docTitle.textContent = c.title || c.document_id || 'Document';
  docMeta.replaceChildren();
  docText.replaceChildren(el('p', 'loading', 'Loading document…'));
  docText.setAttribute('aria-busy', 'true');
  docView.hidden = false;
  docBackdrop.hidden = false;
  appRoot.inert = true;               // real modal: the page behind can't be focused
  document.body.classList.add('doc-open');
  docTitle.focus();
  try {
    const doc = await fetchDocument(c.document_id);
    if (req !== docRequest || docView.hidden) return;
    docTitle.textContent = doc.title || c.title || doc.id;
    if (doc.source) docMeta.append(sourceNode(doc.source, 'doc-source'), ' · ');
    docMeta.append(`Cited passage ${c.passage ?? ''}`);
    const cited = renderDocumentText(doc.text || '', c, passage.highlight);
    cited.scrollIntoView({ block: 'center' });
  } catch (err) {
    if (req !== docRequest) return;
    const box = el('p', 'error', err.message);
    box.setAttribute('role', 'alert');
    docText.replaceChildren(box);
  } finally {
    if (req === docRequest) docText.removeAttribute('aria-busy');
  }
}

function closeDocument() {
  if (docView.hidden) return;
  docRequest += 1;
  docView.hidden = true;
  docBackdrop.hidden = true;
  appRoot.inert = false;
  document.body.classList.remove('doc-open');
  docText.replaceChildren();          // drop stale content (and any loading note)
  if (docOpener && docOpener.isConnected) docOpener.focus(); else input.focus();
  docOpener = null;
}

$('#close-document').addEventListener('click', closeDocument);
docBackdrop.addEventListener('click', closeDocument);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !docView.hidden) { event.preventDefault(); closeDocument(); }
});

// ---- start-up ------------------------------------------------------------

async function restoreConversation() {
  if (!conversationId) return;
  const id = conversationId;
  try {
    const conv = await api('GET', `/api/conversations/${encodeURIComponent(id)}`);
    if (id !== conversationId) return;
    (conv.turns || []).forEach((t) => { renderUser(t.question); renderAnswer(t); });
    const last = messages.lastElementChild;
    if (last) last.scrollIntoView({ block: 'start' });
  } catch (err) {
    if (err.status === 404) { if (id === conversationId) saveId(null); return; }  // expired: forget
    renderError(err);
  }
}

async function checkHealth() {
  try {
    const h = await api('GET', '/api/health');
    indexStatus.textContent = `${h.documents} documents · ${h.passages} passages`;
    if (h.model) indexStatus.title = `Model: ${h.model}`;
    indexStatus.classList.toggle('warn', !h.ok);
  } catch (err) {
    indexStatus.textContent = err.code === 'index_not_built' ? 'Index is empty'
      : err.code === 'network' ? 'Server unreachable' : 'Index unavailable';
    indexStatus.title = err.message;
    indexStatus.classList.add('warn');
  }
}

updateEmptyHint();
checkHealth();
restoreConversation();
