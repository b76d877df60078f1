// Ctrl+Up / Ctrl+Down (also Alt or Cmd) in a prompt box changes the attention weight of the
// selected text, or of the word / bracket group under the cursor:
//   cat -> (cat:1.1) -> (cat:1.2) ... and back down to plain "cat" at weight 1.
// Inside a <lora:name:0.8> tag the tag's own weight changes instead.
// Step size and word delimiters come from the settings keyedit_precision_attention and
// keyedit_delimiters.

(function () {
    const WEIGHT_AFTER = /^:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)/;
    const TAG_WEIGHT = /:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*$/;
    const DEFAULT_DELIMITERS = ".,\\/!?%^*;:{}=`~() ";

    function options() {
        const o = window.sduiOptions || {};
        const precision = Number(o.keyedit_precision_attention) || 0.1;
        const given = typeof o.keyedit_delimiters === "string" ? o.keyedit_delimiters : DEFAULT_DELIMITERS;
        return { precision: precision, delimiters: given + "\n\t" };
    }

    function decimals(step) {
        const text = String(step);
        const dot = text.indexOf(".");
        return dot < 0 ? 1 : Math.max(1, text.length - dot - 1);
    }

    // 1.10 -> "1.1", 1 -> "1.0", 0.95 -> "0.95"
    function formatWeight(weight, step) {
        let text = weight.toFixed(decimals(step)).replace(/(\.\d*?)0+$/, "$1");
        if (text.endsWith(".")) {
            text += "0";
        }
        return text;
    }

    // [index of the unmatched `open` before pos, index of its matching `close`], or null.
    function enclosingBlock(text, pos, open, close) {
        let depth = 0;
        let start = -1;
        for (let i = pos - 1; i >= 0; i--) {
            if (text[i] === close) {
                depth++;
            } else if (text[i] === open) {
                if (depth === 0) {
                    start = i;
                    break;
                }
                depth--;
            }
        }
        if (start < 0) {
            return null;
        }
        depth = 0;
        for (let i = pos; i < text.length; i++) {
            if (text[i] === open) {
                depth++;
            } else if (text[i] === close) {
                if (depth === 0) {
                    return [start, i];
                }
                depth--;
            }
        }
        return null;
    }

    function wordAt(text, pos, delimiters) {
        let start = pos;
        let end = pos;
        while (start > 0 && !delimiters.includes(text[start - 1])) {
            start--;
        }
        while (end < text.length && !delimiters.includes(text[end])) {
            end++;
        }
        return start === end ? null : [start, end];
    }

    function commit(area, text, start, end) {
        area.value = text;
        area.setSelectionRange(start, end);
        sduiUpdateInput(area);
        return true;
    }

    function adjustTag(area, block, delta, precision) {
        const text = area.value;
        const inner = text.slice(block[0] + 1, block[1]);
        const match = TAG_WEIGHT.exec(inner);
        if (!match) {
            return false;
        }
        const weight = formatWeight(parseFloat(match[1]) + delta, precision);
        const innerNew = inner.slice(0, match.index) + ":" + weight;
        const caret = area.selectionStart;
        return commit(area, text.slice(0, block[0] + 1) + innerNew + text.slice(block[1]), caret, caret);
    }

    // The range to weight when nothing is selected: the bracket group or the word at the cursor.
    function rangeAtCursor(text, pos, delimiters) {
        const paren = enclosingBlock(text, pos, "(", ")");
        if (!paren) {
            return wordAt(text, pos, delimiters);
        }
        let end = paren[1];
        const colon = text.lastIndexOf(":", end);
        if (colon > paren[0] && /^:\s*[+-]?[\d.]+\s*$/.test(text.slice(colon, end))) {
            end = colon;
        }
        return [paren[0] + 1, end];
    }

    function editAttention(area, up) {
        const opts = options();
        const delta = up ? opts.precision : -opts.precision;
        let text = area.value;
        let start = area.selectionStart;
        let end = area.selectionEnd;
        if (start === end) {
            const tag = enclosingBlock(text, start, "<", ">");
            if (tag) {
                return adjustTag(area, tag, delta, opts.precision);
            }
            const range = rangeAtCursor(text, start, opts.delimiters);
            if (!range) {
                return false;
            }
            [start, end] = range;
        }
        while (start < end && /\s/.test(text[start])) {
            start++;
        }
        while (end > start && /\s/.test(text[end - 1])) {
            end--;
        }
        if (start === end) {
            return false;
        }
        const selected = text.slice(start, end);
        const after = text.slice(end);
        const match = text[start - 1] === "(" ? WEIGHT_AFTER.exec(after) : null;
        if (!match) {
            const weight = formatWeight(1 + delta, opts.precision);
            text = text.slice(0, start) + "(" + selected + ":" + weight + ")" + after;
            return commit(area, text, start + 1, end + 1);
        }
        const weight = parseFloat(formatWeight(parseFloat(match[1]) + delta, opts.precision));
        const rest = after.slice(match[0].length);
        if (Math.abs(weight - 1) < 1e-9) {
            text = text.slice(0, start - 1) + selected + rest;
            return commit(area, text, start - 1, end - 1);
        }
        text = text.slice(0, end) + ":" + formatWeight(weight, opts.precision) + ")" + rest;
        return commit(area, text, start, end);
    }

    document.addEventListener("keydown", (event) => {
        if (event.key !== "ArrowUp" && event.key !== "ArrowDown") {
            return;
        }
        if (!(event.ctrlKey || event.metaKey || event.altKey)) {
            return;
        }
        const area = event.target;
        if (!(area instanceof HTMLTextAreaElement) || !area.closest(".prompt")) {
            return;
        }
        if (editAttention(area, event.key === "ArrowUp")) {
            event.preventDefault();
        }
    });

    window.sduiEditAttention = editAttention;
})();
