// qa chat page. Plain ES2020, no dependencies.
// Security rule: every string that comes from the API (questions, passages,
// titles, document text) is inserted with textContent, never innerHTML.
'use strict';

const STORAGE_KEY = 'qa.conversation_id';
const COLLECTION_KEY = 'qa.collection';
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
const documentPage = $('#document-page');
const pageLabel = $('#page-label');
const pagePrev = $('#page-prev');
const pageNext = $('#page-next');
const pageFrame = $('#page-frame');
const pageImage = $('#page-image');
const pageBoxes = $('#page-boxes');
const pageNote = $('#page-note');
const collectionPicker = $('#collection-picker');
const collectionSelect = $('#collection');

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

// ---- citations -----------------------------------------------------------

// PowerPoint pages are slides; the ask response has no document type, so the file name tells.
function isSlides(c, type) { return type ? type === 'pptx' : /\.pptx$/i.test(c.source || ''); }
function isPdf(c, type) {
  return type === 'pdf' || (Array.isArray(c.boxes) && c.boxes.length > 0)
    || (!type && /\.pdf$/i.test(c.source || ''));
}

// Where in its document a citation stands: "page 2", "pages 2–3", "slide 4", or the Word
// section's heading; '' for a document without pages or sections.
function whereLabel(c, type) {
  const unit = isSlides(c, type) ? 'slide' : 'page';
  const [first, last] = Array.isArray(c.pages) ? c.pages : [c.page, c.page];
  const printed = printedLabel(c, first, last);
  if (Number.isInteger(first) && Number.isInteger(last) && last > first) return `${unit}s ${first}–${last}${printed}`;
  const page = Number.isInteger(c.page) ? c.page : first;
  if (Number.isInteger(page)) return `${unit} ${page}${printed}`;
  if (c.section) return `section “${c.section}”`;
  return '';
}

// " (printed 12)" when the numbers printed on the pages differ from the count (a cover, roman
// numerals): the reader holding the document finds the passage by those. '' otherwise.
function printedLabel(c, first, last) {
  const [from, to] = Array.isArray(c.page_labels) ? c.page_labels : [null, null];
  if (!from || from === String(first)) return '';
  return ` (printed ${to && to !== from && last > first ? `${from}–${to}` : from})`;
}

// The page a PDF citation opens at: its first page, else the page of its first box, else (a turn
// saved before citations named pages) the page whose text holds the passage's start.
function citedPage(c, doc) {
  if (Number.isInteger(c.page)) return c.page;
  if (Array.isArray(c.pages) && Number.isInteger(c.pages[0])) return c.pages[0];
  const box = (c.boxes || [])[0];
  if (box && Number.isInteger(box.page)) return box.page;
  const holding = ((doc && doc.pages) || []).find((pg) => pg.start <= c.start && c.start < pg.end);
  return holding ? holding.number : 1;
}

// The highlight's offsets relative to the passage text, or null when there is none.
function highlightRange(p) {
  const h = p.highlight;
  if (!h || !(h.end > h.start)) return null;
  const base = (p.citation && p.citation.start) || 0;
  return [h.start - base, h.end - base];
}

// The answer's lead: the top passage's highlighted sentence, quoted as it stands.
function bestSentence(p) {
  const range = highlightRange(p);
  const text = range ? cpSlice(codePoints(p.text), range[0], range[1]) : p.text;
  return (text || '').trim();
}

// Passage text with the highlight sentence wrapped in <mark class="highlight">.
function passageText(p) {
  const box = el('blockquote', 'passage-text');
  const range = highlightRange(p);
  if (!range) { box.textContent = p.text || ''; return box; }
  const cps = codePoints(p.text);
  const [hs, he] = range;
  box.append(cpSlice(cps, 0, hs), el('mark', 'highlight', cpSlice(cps, hs, he)),
    cpSlice(cps, he, cps.length));
  return box;
}

// A document's name is its card's (title, issuer, kind, period), else its title.
function titleOf(c) { return (c.card && c.card.name) || c.title || c.document_id || 'Untitled'; }

// The [n] marker after the quoted answer: opens the source at the passage.
function citeMarker(p, n) {
  const c = p.citation || {};
  const marker = el('button', 'cite-marker', `[${n}]`);
  marker.type = 'button';
  const where = whereLabel(c);
  marker.setAttribute('aria-label', `Source ${n}: ${titleOf(c)}${where ? `, ${where}` : ''} — open`);
  marker.title = `Open ${titleOf(c)}${where ? `, ${where}` : ''}`;
  marker.addEventListener('click', () => openDocument(p, marker));
  return marker;
}

function renderPassage(p, n) {
  const c = p.citation || {};
  const item = el('li', 'passage');
  const head = el('div', 'passage-head');
  head.append(el('span', 'passage-rank', `[${n}]`), el('h3', 'passage-title', titleOf(c)));
  const score = el('span', 'passage-score',
    typeof p.score === 'number' ? `score ${p.score.toFixed(3)}` : '—');
  score.title = 'Relevance score';
  head.append(score);

  const meta = el('p', 'passage-meta');
  meta.append(sourceNode(c.source, 'passage-source'));
  const where = whereLabel(c);
  if (where) meta.append(el('span', 'passage-where', where));

  const foot = el('div', 'passage-foot');
  const label = isPdf(c) && where ? `Open ${where} · passage ${c.passage ?? '?'}`
    : `Open document · passage ${c.passage ?? '?'}`;
  const cite = el('button', 'cite', label);
  cite.type = 'button';
  // Accessible name starts with the visible label, then says which document.
  cite.setAttribute('aria-label', `${label} — ${titleOf(c)}`);
  cite.addEventListener('click', () => openDocument(p, cite));
  foot.append(cite);

  // A table's rows are read under its title and header rows, which the passage itself may not repeat.
  if (c.context) item.append(head, meta, el('p', 'passage-context', c.context), passageText(p), foot);
  else item.append(head, meta, passageText(p), foot);
  return item;
}

function renderAnswer(turn, tookMs) {
  const bubble = el('div', 'turn turn-answer');
  bubble.append(el('span', 'sr-only', 'Answer: '));
  const passages = Array.isArray(turn.passages) ? turn.passages : [];

  const meta = el('div', 'answer-meta');
  const conf = el('span', 'confidence', turn.confident
    ? 'Confident' : 'Not confident — the documents may not answer this');
  if (typeof turn.confidence === 'number') conf.title = `Confidence ${turn.confidence.toFixed(2)}`;
  conf.dataset.confident = String(Boolean(turn.confident));
  meta.append(conf);
  let info = `${passages.length} passage${passages.length === 1 ? '' : 's'}`;
  if (typeof tookMs === 'number') info += ` · ${Math.round(tookMs)} ms`;
  meta.append(el('span', 'answer-info', info));
  bubble.append(meta);

  if (passages.length === 0) {
    bubble.append(el('p', 'no-passages', 'No matching passages were found.'));
    return append(bubble);
  }
  const count = `${passages.length} passage${passages.length === 1 ? '' : 's'}`;
  if (turn.confident) {
    // Lead with the best sentence, quoted word for word, and its citation marker.
    const lead = el('p', 'answer-lead');
    lead.append(el('q', 'answer-quote', bestSentence(passages[0])), ' ', citeMarker(passages[0], 1));
    bubble.append(lead);
  } else {
    // Not an answer: say so first, and why; the passages follow only as the closest matches.
    bubble.append(el('p', 'not-found', 'Not found in these documents'));
    const reasons = Array.isArray(turn.confidence_reasons) ? turn.confidence_reasons : [];
    if (reasons.length) {
      const list = el('ul', 'not-found-reasons');
      reasons.forEach((reason) => list.append(el('li', null, reason)));
      bubble.append(list);
    }
  }

  // Then the passages as numbered evidence (or closest matches), unfolded by default.
  const evidence = el('details', 'evidence');
  evidence.open = true;
  evidence.append(el('summary', 'evidence-summary',
    turn.confident ? `Evidence · ${count}` : `Closest matches · ${count}`));
  const list = el('ol', 'passages');
  passages.forEach((p, i) => list.append(renderPassage(p, i + 1)));
  evidence.append(list);
  bubble.append(evidence);
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
  if (!collectionPicker.hidden && collectionSelect.value) body.collection = collectionSelect.value;
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
    // A full conversation (409) or one gone (404): the next question starts a new one.
    if (err.code === 'conversation_full' || err.code === 'conversation_not_found') saveId(null);
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

// The collection picker: only when the server holds (and this page may read) more than one.
// Another collection starts a new conversation: a conversation stays inside its collection.
async function loadCollections() {
  let names = [];
  try { names = (await api('GET', '/api/collections')).collections.map((c) => c.name); } catch { return; }
  if (names.length < 2) return;
  let saved = null;
  try { saved = localStorage.getItem(COLLECTION_KEY); } catch { /* storage disabled */ }
  collectionSelect.replaceChildren(...names.map((name) => { const o = el('option', null, name); o.value = name; return o; }));
  collectionSelect.value = names.includes(saved) ? saved : (names.includes('default') ? 'default' : names[0]);
  collectionPicker.hidden = false;
}

collectionSelect.addEventListener('change', () => {
  try { localStorage.setItem(COLLECTION_KEY, collectionSelect.value); } catch { /* storage disabled */ }
  $('#new-conversation').click();
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

// ---- page image (PDF citations) ------------------------------------------

// What the page view shows: the document, the citation, and the page number on screen.
let pageView = null;

function pageInfo(doc, n) { return (doc.pages || []).find((pg) => pg.number === n) || null; }

function pageUrl(doc, n) {
  return `/api/documents/${encodeURIComponent(doc.id)}/pages/${encodeURIComponent(n)}.png`;
}

function showPage(n) {
  const view = pageView;
  if (!view) return;
  view.number = n;
  view.revealBox = true;
  const count = (view.doc.pages || []).length;
  const first = citedPage(view.citation, view.doc);
  const spans = Array.isArray(view.citation.pages) ? view.citation.pages : [first, first];
  const cited = n >= spans[0] && n <= spans[1];
  const printed = (pageInfo(view.doc, n) || {}).label;
  const printedNote = printed && printed !== String(n) ? ` (printed ${printed})` : '';
  pageLabel.textContent = `Page ${n}${count ? ` of ${count}` : ''}${printedNote}${cited ? ' · cited' : ''}`;
  pagePrev.disabled = n <= 1;
  pageNext.disabled = !count || n >= count;
  // A button disabled under the keyboard focus would drop it to <body>: hand it to the other one.
  if (document.activeElement === pagePrev && pagePrev.disabled) pageNext.focus();
  if (document.activeElement === pageNext && pageNext.disabled) pagePrev.focus();
  pageBoxes.replaceChildren();
  pageNote.hidden = true;
  pageFrame.hidden = false;
  const boxes = boxesOn(view, n);
  pageImage.alt = `Page ${n} of ${view.doc.title || 'the document'}`
    + (boxes.length ? ', the cited passage outlined' : '');
  const url = pageUrl(view.doc, n);
  if (pageImage.getAttribute('src') === url && pageImage.complete) {
    if (pageImage.naturalWidth > 0) pageLoaded(); else pageFailed();
  } else {
    pageImage.src = url;
  }
}

function boxesOn(view, n) { return (view.citation.boxes || []).filter((b) => b.page === n); }

// Draw the passage's boxes over the image. Boxes are in PDF points from the page's top-left;
// img.naturalWidth / page.width is the PNG's pixels per point, and the image is shown at
// clientWidth / naturalWidth of its natural size, so a point is clientWidth / page.width px.
function drawBoxes() {
  const view = pageView;
  pageBoxes.replaceChildren();
  if (!view || !(pageImage.naturalWidth > 0)) return;
  const page = pageInfo(view.doc, view.number);
  if (!page || !(page.width > 0)) return;
  const pixelsPerPoint = pageImage.naturalWidth / page.width;
  const shown = pageImage.clientWidth / pageImage.naturalWidth;
  const scale = pixelsPerPoint * shown;
  const w = pageImage.clientWidth, h = pageImage.clientHeight;
  const pad = 2;  // a little air around each line, kept inside the image
  const clampX = (x) => Math.max(0, Math.min(w, x));
  const clampY = (y) => Math.max(0, Math.min(h, y));
  for (const b of boxesOn(view, view.number)) {
    const x0 = clampX(b.x0 * scale - pad), x1 = clampX(b.x1 * scale + pad);
    const y0 = clampY(b.y0 * scale - pad), y1 = clampY(b.y1 * scale + pad);
    if (x1 <= x0 || y1 <= y0) continue;
    const box = el('div', 'page-box');
    // CSSOM properties, not a style attribute: allowed under style-src 'self'.
    box.style.left = `${x0}px`;
    box.style.top = `${y0}px`;
    box.style.width = `${x1 - x0}px`;
    box.style.height = `${y1 - y0}px`;
    pageBoxes.append(box);
  }
}

function pageLoaded() {
  if (!pageView) return;
  pageFrame.hidden = false;
  pageNote.hidden = true;
  drawBoxes();
  if (pageView.revealBox) {
    pageView.revealBox = false;
    const first = pageBoxes.firstElementChild;
    if (first) first.scrollIntoView({ block: 'center' }); else documentPage.scrollTop = 0;
  }
}

function pageFailed() {
  if (!pageView) return;
  pageBoxes.replaceChildren();
  pageFrame.hidden = true;
  pageNote.textContent = `The image of page ${pageView.number} is unavailable; the passage is marked in the text.`;
  pageNote.hidden = false;
}

pageImage.addEventListener('load', pageLoaded);
pageImage.addEventListener('error', pageFailed);
pagePrev.addEventListener('click', () => { if (pageView && pageView.number > 1) showPage(pageView.number - 1); });
pageNext.addEventListener('click', () => { if (pageView) showPage(pageView.number + 1); });
// Boxes are placed in pixels: place them again whenever the image's shown size changes.
if ('ResizeObserver' in window) new ResizeObserver(() => drawBoxes()).observe(pageImage);
else window.addEventListener('resize', drawBoxes);

function openPage(doc, citation) {
  pageView = { doc, citation, number: 0, revealBox: true };
  docView.classList.add('has-page');
  documentPage.hidden = false;
  showPage(citedPage(citation, doc));
}

function closePage() {
  pageView = null;
  docView.classList.remove('has-page');
  documentPage.hidden = true;
  pageBoxes.replaceChildren();
  pageImage.removeAttribute('src');
  pageImage.alt = '';
  pageNote.hidden = true;
}

// Where a quoted passage stands in a changed document: its old offsets if the text there is still
// the same, else the first place its text occurs, else nowhere (nothing is marked).
function relocated(text, passage) {
  const c = passage.citation || {};
  const cps = codePoints(text);
  if (cpSlice(cps, c.start, c.end) === passage.text) return c;
  const at = text.indexOf(passage.text);
  if (at < 0) return { ...c, start: 0, end: 0 };
  const start = codePoints(text.slice(0, at)).length;
  return { ...c, start, end: start + codePoints(passage.text).length };
}

async function openDocument(passage, opener) {
  const c = passage.citation || {};
  const req = ++docRequest;
  docOpener = opener;
  closePage();
  docTitle.textContent = titleOf(c);
  docMeta.replaceChildren();
  docText.replaceChildren(el('p', 'loading', 'Loading document…'));
  docText.setAttribute('aria-busy', 'true');
  docView.hidden = false;
  docBackdrop.hidden = false;
  appRoot.inert = true;               // real modal: the page behind can't be focused
  document.body.classList.add('doc-open');
  docTitle.focus();
  try {
    let doc = await fetchDocument(c.document_id);
    if (c.document_hash && doc.hash !== c.document_hash) {
      docCache.delete(c.document_id);  // the cached copy may be the stale one: ask again
      doc = await fetchDocument(c.document_id);
    }
    if (req !== docRequest || docView.hidden) return;
    const changed = Boolean(c.document_hash) && doc.hash !== c.document_hash;
    docTitle.textContent = doc.name || doc.title || titleOf(c);
    if (doc.source) docMeta.append(sourceNode(doc.source, 'doc-source'), ' · ');
    const where = whereLabel(c, doc.type);
    if (where) docMeta.append(el('span', 'doc-where', where), ' · ');
    docMeta.append(`cited passage ${c.passage ?? ''}`);
    if (changed) {
      // The answer quoted an earlier version: say so, and mark the passage only where its words still are.
      const note = el('p', 'doc-changed', 'This document has changed since this answer was given; '
        + 'the quoted passage may no longer be in it as cited.');
      note.setAttribute('role', 'status');
      docMeta.append(note);
    }
    const place = changed ? relocated(doc.text || '', passage) : c;
    const cited = renderDocumentText(doc.text || '', place, place === c ? passage.highlight : null);
    if (isPdf(c, doc.type) && (doc.pages || []).length) openPage(doc, c);
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
  closePage();
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
loadCollections();
restoreConversation();
