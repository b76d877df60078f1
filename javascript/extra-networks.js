// The card browser under the prompts (Checkpoints, Textual Inversion, Lora).
// A tab's cards are fetched once when it is first opened (GET /sd_extra_networks/cards), then
// searched, sorted and filtered by folder here without another request; only the first
// SDUI_EN_PAGE matching cards are drawn (more on demand), so 5,000 files stay responsive.
// Clicking a card inserts its tag at the prompt's cursor, or removes it when already present.

const SDUI_EN_PAGE = 120;
const sduiEnState = {};

function sduiEnRoot(element) {
    return element.closest(".sdui-en");
}

function sduiEnStateOf(root) {
    const key = root.dataset.tab;
    if (!sduiEnState[key]) {
        sduiEnState[key] = { page: null, data: {}, folder: "", limit: SDUI_EN_PAGE, desc: false };
    }
    return sduiEnState[key];
}

function sduiEnEscape(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function sduiEnLoad(root, page, refresh) {
    const state = sduiEnStateOf(root);
    if (!state.data[page] || refresh) {
        const url = `./sd_extra_networks/cards?page=${encodeURIComponent(page)}${refresh ? "&refresh=true" : ""}`;
        const response = await fetch(url, { credentials: "same-origin" });
        if (!response.ok) {
            root.querySelector(".sdui-en-cards").textContent = `Could not list the cards (${response.status}).`;
            return;
        }
        state.data[page] = await response.json();
    }
    sduiEnRender(root);
}

function sduiEnFiltered(state, search, sort) {
    const data = state.data[state.page];
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    const folder = state.folder;
    let items = data.items.filter((item) => (!folder || item.folder === folder || item.folder.startsWith(folder + "/"))
        && words.every((w) => item.search.includes(w)));
    const key = { name: (i) => i.name.toLowerCase(), date: (i) => i.mtime, path: (i) => i.path.toLowerCase() }[sort];
    items = items.slice().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    if (state.desc) {
        items.reverse();
    }
    return items;
}

function sduiEnCardHtml(page, item) {
    const thumb = item.preview
        ? `<img loading="lazy" alt="" src="./sd_extra_networks/thumb?page=${page}&path=${encodeURIComponent(item.preview)}">`
        : `<div class="sdui-en-noimage">${sduiEnEscape(item.name.slice(0, 2))}</div>`;
    const edit = page === "checkpoints" || item.readonly ? "" : '<button type="button" class="sdui-en-edit" title="Edit this card\'s notes (name.json)">✎</button>';
    return `<div class="sdui-en-card" data-path="${sduiEnEscape(item.path)}" title="${sduiEnEscape(item.path)}">` +
        `${thumb}${edit}<div class="sdui-en-name">${sduiEnEscape(item.name)}</div>` +
        (item.description ? `<div class="sdui-en-desc">${sduiEnEscape(item.description)}</div>` : "") + "</div>";
}

function sduiEnRender(root) {
    const state = sduiEnStateOf(root);
    const data = state.data[state.page];
    if (!data) {
        return;
    }
    const started = performance.now();
    const search = root.querySelector(".sdui-en-search").value;
    const sort = root.querySelector(".sdui-en-sort").value;
    const items = sduiEnFiltered(state, search, sort);
    const shown = items.slice(0, state.limit);
    let html = shown.map((item) => sduiEnCardHtml(state.page, item)).join("");
    if (items.length > shown.length) {
        html += `<button type="button" class="sdui-en-more">Show ${Math.min(SDUI_EN_PAGE, items.length - shown.length)} more</button>`;
    }
    if (!items.length) {
        html = `<div class="sdui-en-empty">No ${state.page.replace("_", " ")} files match.</div>`;
    }
    root.querySelector(".sdui-en-cards").innerHTML = html;
    const tree = ["", ...data.folders].map((f) => `<button type="button" class="sdui-en-folder${f === state.folder ? " selected" : ""}"` +
        ` data-folder="${sduiEnEscape(f)}" style="padding-left:${f ? f.split("/").length : 0}em">${f ? sduiEnEscape(f.split("/").pop()) : "all"}</button>`);
    root.querySelector(".sdui-en-tree").innerHTML = tree.join("");
    root.querySelector(".sdui-en-count").textContent = `${items.length} of ${data.items.length}`;
    root.dataset.renderMs = String(Math.round(performance.now() - started));
}

// The prompt box a card click writes into: the positive one, or the negative one when that was
// the last of the two to have the focus (as A1111 does, so "EasyNegative" lands in the negative).
const sduiEnActiveBox = {};

document.addEventListener("focusin", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLTextAreaElement)) {
        return;
    }
    const holder = target.closest("[id$='_prompt'], [id$='_neg_prompt']");
    const match = holder && holder.id.match(/^(.*?)_(prompt|neg_prompt)$/);
    if (match) {
        sduiEnActiveBox[match[1]] = match[2];
    }
});

function sduiEnPromptBox(root) {
    const tab = root.dataset.tab;
    return sduiRoot().querySelector(`#${tab}_${sduiEnActiveBox[tab] || "prompt"} textarea`);
}

// Insert `tag` at the cursor, or remove it (any weight, for <lora:name:...> and other <type:name:...>
// tags) when present.
function sduiEnToggleTag(textarea, tag, name, page) {
    const text = textarea.value;
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const tagType = (tag.match(/^<(\w+):/) || [])[1];
    const pattern = tagType ? new RegExp(`\\s*<${tagType}:${escaped}(:[^>]*)?>`) : new RegExp(`(^|[\\s,])${escaped}(?=$|[\\s,])`);
    if (pattern.test(text)) {
        textarea.value = text.replace(pattern, tagType ? "" : "$1").replace(/\s{2,}/g, " ").trim();
    } else {
        const at = textarea.selectionStart ?? text.length;
        const before = text.slice(0, at);
        const pad = before && !/\s$/.test(before) ? " " : "";
        textarea.value = before + pad + tag + text.slice(at);
        textarea.selectionStart = textarea.selectionEnd = (before + pad + tag).length;
    }
    sduiUpdateInput(textarea);
}

const SDUI_EN_FIELDS = [["description", "Description"], ["activation text", "Activation text"],
    ["preferred weight", "Preferred weight"], ["notes", "Notes"]];

// The card's name.json as a small form in place of the card list; Save writes it and reloads the cards.
function sduiEnEditor(root, item) {
    const meta = item.user_metadata || {};
    const fields = SDUI_EN_FIELDS.map(([key, label]) => `<label>${label}<textarea data-key="${key}" rows="${key === "notes" ? 3 : 1}">` +
        `${sduiEnEscape(meta[key] ?? "")}</textarea></label>`).join("");
    root.querySelector(".sdui-en-cards").innerHTML = `<div class="sdui-en-editor" data-path="${sduiEnEscape(item.path)}">` +
        `<b>${sduiEnEscape(item.name)}</b>${fields}<div class="sdui-en-editor-error"></div>` +
        '<button type="button" class="sdui-en-save">Save</button> <button type="button" class="sdui-en-cancel">Cancel</button></div>';
}

async function sduiEnSave(root, editor) {
    const state = sduiEnStateOf(root);
    const data = {};
    editor.querySelectorAll("textarea").forEach((t) => {
        const value = t.value.trim();
        if (t.dataset.key === "preferred weight") {
            data[t.dataset.key] = value === "" ? 0 : Number(value);
        } else {
            data[t.dataset.key] = value;
        }
    });
    if (Number.isNaN(data["preferred weight"])) {
        editor.querySelector(".sdui-en-editor-error").textContent = "The preferred weight must be a number, e.g. 0.8.";
        return;
    }
    const response = await fetch("./sd_extra_networks/user-metadata", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ page: state.page, path: editor.dataset.path, data }),
    });
    if (!response.ok) {
        editor.querySelector(".sdui-en-editor-error").textContent = `Could not save (${response.status}): ${await response.text()}`;
        return;
    }
    await sduiEnLoad(root, state.page, true);
}

async function sduiEnCardClick(root, card) {
    const state = sduiEnStateOf(root);
    const item = state.data[state.page].items.find((i) => i.path === card.dataset.path);
    if (!item) {
        return;
    }
    if (state.page === "checkpoints") {
        await fetch("./sd_extra_networks/select-checkpoint", {
            method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ name: item.path }),
        });
        return;
    }
    const textarea = sduiEnPromptBox(root);
    if (textarea) {
        sduiEnToggleTag(textarea, item.prompt, item.name, state.page);
    }
}

document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) {
        return;
    }
    const root = sduiEnRoot(target);
    if (!root) {
        return;
    }
    const state = sduiEnStateOf(root);
    const tab = target.closest(".sdui-en-tab");
    if (tab) {
        const body = root.querySelector(".sdui-en-body");
        const same = state.page === tab.dataset.page && !body.hidden;
        root.querySelectorAll(".sdui-en-tab").forEach((b) => b.classList.toggle("selected", !same && b === tab));
        body.hidden = same;
        state.page = tab.dataset.page;
        state.folder = "";
        state.limit = SDUI_EN_PAGE;
        if (!same) {
            sduiEnLoad(root, state.page, false);
        }
        return;
    }
    const edit = target.closest(".sdui-en-edit");
    if (edit) {
        const item = state.data[state.page].items.find((i) => i.path === edit.closest(".sdui-en-card").dataset.path);
        if (item) {
            sduiEnEditor(root, item);
        }
        return;
    }
    if (target.closest(".sdui-en-save")) {
        sduiEnSave(root, target.closest(".sdui-en-editor"));
        return;
    }
    if (target.closest(".sdui-en-cancel")) {
        sduiEnRender(root);
        return;
    }
    const card = target.closest(".sdui-en-card");
    if (card) {
        sduiEnCardClick(root, card);
    } else if (target.closest(".sdui-en-more")) {
        state.limit += SDUI_EN_PAGE;
        sduiEnRender(root);
    } else if (target.closest(".sdui-en-folder")) {
        state.folder = target.closest(".sdui-en-folder").dataset.folder;
        state.limit = SDUI_EN_PAGE;
        sduiEnRender(root);
    } else if (target.closest(".sdui-en-order")) {
        state.desc = !state.desc;
        sduiEnRender(root);
    } else if (target.closest(".sdui-en-refresh") && state.page) {
        sduiEnLoad(root, state.page, true);
    }
});

document.addEventListener("input", (event) => {
    const target = event.target;
    if (target instanceof Element && target.classList.contains("sdui-en-search")) {
        const root = sduiEnRoot(target);
        sduiEnStateOf(root).limit = SDUI_EN_PAGE;
        sduiEnRender(root);
    }
});

document.addEventListener("change", (event) => {
    const target = event.target;
    if (target instanceof Element && target.classList.contains("sdui-en-sort")) {
        sduiEnRender(sduiEnRoot(target));
    }
});
